"""How YAMNet's weights appear in PyTorch files: edgeaudio's key names (`layerN.<keras sublayer>`, `head.logits`).

The official weights are a Keras file; edgeaudio/models/yamnet/keras_weights.py maps those onto these keys.
YAMNet has no PySlowFast cfg: its config comes from the weight shapes alone.
"""

from __future__ import annotations

from typing import Any, Mapping

from edgeaudio.errors import CheckpointError
from edgeaudio.models.yamnet.config import LAYERS


def recognises(state: Mapping[str, Any]) -> bool:
    return "layer1.conv.weight" in state and f"layer{len(LAYERS)}.pointwise_conv.weight" in state


def detect_form(state: Mapping[str, Any]) -> str:
    return "training" if "layer1.conv_bn.bias" in state else "folded"


def config_from_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """Width (from layer1's 32 filters), classes and input channels."""
    first = state["layer1.conv.weight"]
    fields: dict[str, Any] = {"width": float(first.shape[0]) / LAYERS[0][2], "in_channels": int(first.shape[1])}
    if "head.logits.weight" in state:
        fields["num_classes"] = (int(state["head.logits.weight"].shape[0]),)
    return fields


def config_from_official_cfg(cfg: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    raise CheckpointError("YAMNet weights come without a PySlowFast cfg; this file carries one for another model")


def official_cfg(config, form: str = "training", frontend=None) -> dict[str, Any]:
    raise CheckpointError("YAMNet has no official PySlowFast checkpoint format; save it as an edgeaudio checkpoint")


def check_strides_against_state(config, state: Mapping[str, Any]) -> str | None:
    return None


def loaded_warnings(model) -> list[str]:
    return []
