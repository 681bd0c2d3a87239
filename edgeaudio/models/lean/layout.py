"""How the LEAN-style model appears in checkpoints: edgeaudio's own files (it has no official release).

Keys: `yamnet.layerN.*` (YAMNet's, without its AudioSet head), `wave.*`, `project.*`, `attention.*`, `head.*`.
The config comes from the shapes and, for what shapes cannot tell (patches beyond the position tables' sizes),
from the config the edgeaudio file records.
"""

from __future__ import annotations

from typing import Any, Mapping

from edgeaudio.errors import CheckpointError
from edgeaudio.models.yamnet.config import LAYERS


def recognises(state: Mapping[str, Any]) -> bool:
    return "wave.filters.weight" in state and "yamnet.layer1.conv.weight" in state and "attention.query.weight" in state


def detect_form(state: Mapping[str, Any]) -> str:
    return "training" if "wave.down_bn.running_mean" in state else "folded"


def config_from_state(state: Mapping[str, Any]) -> dict[str, Any]:
    blocks = {int(k.split(".")[2]) for k in state if k.startswith("wave.blocks.")}
    return {
        "num_classes": (int(state["head.classifier.weight"].shape[0]),),
        "patches": int(state["attention.query_position"].shape[0]),
        "yamnet_width": float(state["yamnet.layer1.conv.weight"].shape[0]) / LAYERS[0][2],
        "filters": int(state["wave.filters.weight"].shape[0]) // 2,
        "channels": int(state["wave.down.weight"].shape[0]),
        "blocks": len(blocks),
        "kernel": int(state["wave.blocks.0.depthwise.weight"].shape[-1]) if blocks else 5,
        "dim": int(state["attention.query.weight"].shape[0]),
    }


def config_from_official_cfg(cfg: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    raise CheckpointError("the LEAN-style model has no official PySlowFast cfg; this file carries one for another model")


def official_cfg(config, form: str = "training", frontend=None) -> dict[str, Any]:
    raise CheckpointError("the LEAN-style model has no official checkpoint format; save it as an edgeaudio checkpoint")


def check_strides_against_state(config, state: Mapping[str, Any]) -> str | None:
    return None


def loaded_warnings(model) -> list[str]:
    return []
