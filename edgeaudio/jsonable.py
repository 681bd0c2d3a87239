"""Conversions between config values (tuples, hashable) and their JSON form (lists), and configs from JSON."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Iterable

from edgeaudio.errors import ConfigError


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


def unknown_fields(cls: type, keys: Iterable[str]) -> list[str]:
    """The keys that are not fields of dataclass `cls`, sorted."""
    return sorted(set(keys) - {f.name for f in fields(cls)})


def config_from_dict(cls: type, data: dict, title: str):
    """A frozen config dataclass from its JSON form (lists back to tuples); unknown keys are a ConfigError."""
    unknown = unknown_fields(cls, data)
    if unknown:
        raise ConfigError(f"unknown {title} config keys: {', '.join(unknown)}")
    return cls(**{k: to_tuples(v) for k, v in data.items()})
