"""Writing checkpoints: edgeaudio's own files (weights plus the config that builds them) and the official format.

Both are plain dicts of tensors and built-in types, so they load back with torch.load(weights_only=True).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from edgeaudio import __version__
from edgeaudio.atomic import atomic_path
from edgeaudio.checkpoint.load import EDGEAUDIO_KEY, FORMAT_VERSION
from edgeaudio.models import get_spec


def save_edgeaudio(model: nn.Module, path: str | os.PathLike, extra: Mapping[str, Any] | None = None) -> Path:
    """Write `model` (with `.arch`, `.config`, `.form`) as an edgeaudio checkpoint, atomically.

    `extra` (plain data: where it came from, the parity measured) is stored beside the config.
    """
    meta = {
        "format_version": FORMAT_VERSION,
        "arch": model.arch,
        "form": model.form,
        "config": model.config.to_dict(),
        "edgeaudio_version": __version__,
        **dict(extra or {}),
    }
    payload = {EDGEAUDIO_KEY: meta, "model_state": model.state_dict()}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def save_official(
    model: nn.Module,
    path: str | os.PathLike,
    epoch: int = 0,
    optimizer_state: Mapping[str, Any] | None = None,
    frontend=None,
) -> Path:
    """Write `model` the way the official PySlowFast `save_checkpoint` does: epoch, model_state,
    optimizer_state and the fvcore cfg dumped as YAML text (with the feature settings of `frontend`). Atomic."""
    import yaml

    spec = get_spec(model.arch)
    cfg = spec.layout.official_cfg(model.config, model.form, frontend)
    payload = {
        "epoch": epoch,
        "model_state": copy.deepcopy(model.state_dict()),
        "optimizer_state": None if optimizer_state is None else dict(optimizer_state),
        "cfg": yaml.safe_dump(cfg, sort_keys=True),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)
