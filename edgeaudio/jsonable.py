"""Conversions between config values (tuples, hashable) and their JSON form (lists)."""

from __future__ import annotations

from typing import Any


def to_lists(value: Any) -> Any:
    """Tuples (nested, and inside dicts) as lists, for JSON."""
    if isinstance(value, (tuple, list)):
        return [to_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: to_lists(v) for k, v in value.items()}
    return value


def to_tuples(value: Any) -> Any:
    """Lists (nested) as tuples, for frozen configs."""
    if isinstance(value, (tuple, list)):
        return tuple(to_tuples(v) for v in value)
    return value
