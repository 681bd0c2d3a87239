"""How the auditory Slow-Fast network appears in checkpoints (ekazakos/auditory-slow-fast, same dict format)."""

from __future__ import annotations

import re
from typing import Any, Mapping

from edgeaudio.errors import CheckpointError
from edgeaudio.models.audiorepinceptionnext.config import DEPTHS_BY_RESNET_DEPTH
from edgeaudio.models.common import cfg_lookup
from edgeaudio.models.slowfast.config import SlowFastConfig

OFFICIAL_MODEL_NAME = "SlowFast"
_BLOCK_KEY = re.compile(r"^(s[2-5])\.pathway0_res(\d+)\.")


def recognises(state: Mapping[str, Any]) -> bool:
    return "s1.pathway1_stem.conv.weight" in state and "s1_fuse.conv_f2s.weight" in state


def detect_form(state: Mapping[str, Any]) -> str:
    return "training" if "s1.pathway0_stem.bn.weight" in state else "folded"


def config_from_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """Fields the weight shapes settle (alpha and the frequency strides leave no trace)."""
    slow, fast = state["s1.pathway0_stem.conv.weight"], state["s1.pathway1_stem.conv.weight"]
    fuse = state["s1_fuse.conv_f2s.weight"]
    fields: dict[str, Any] = {
        "width": int(slow.shape[0]),
        "in_channels": int(slow.shape[1]),
        "beta_inv": int(slow.shape[0] // fast.shape[0]),
        "fusion_ratio": int(fuse.shape[0] // fuse.shape[1]),
        "fusion_kernel": int(fuse.shape[2]),
    }
    blocks: dict[str, set[int]] = {f"s{i}": set() for i in range(2, 6)}
    for key in state:
        match = _BLOCK_KEY.match(key)
        if match:
            blocks[match.group(1)].add(int(match.group(2)))
    fields["depths"] = tuple(len(blocks[f"s{i}"]) for i in range(2, 6))
    for p, name in ((0, "slow_kernels"), (1, "fast_kernels")):
        stem = int(state[f"s1.pathway{p}_stem.conv.weight"].shape[2])
        stages = [f"s{i}.pathway{p}_res0.branch2.a.weight" for i in range(2, 6)]
        if all(k in state for k in stages):
            fields[name] = (stem, *(int(state[k].shape[2]) for k in stages))
    if "head.projection.weight" in state:
        fields["num_classes"] = (int(state["head.projection.weight"].shape[0]),)
    elif "head.projection_verb.weight" in state:
        fields["num_classes"] = (int(state["head.projection_verb.weight"].shape[0]), int(state["head.projection_noun.weight"].shape[0]))
    return fields


def config_from_official_cfg(cfg: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    name = cfg_lookup(cfg, "MODEL.MODEL_NAME")
    if name is not None and name != OFFICIAL_MODEL_NAME:
        raise CheckpointError(f"cfg MODEL.MODEL_NAME is {name!r}, but the weights are {OFFICIAL_MODEL_NAME}'s")
    fields: dict[str, Any] = {}
    try:
        if cfg_lookup(cfg, "MODEL.NUM_CLASSES") is not None:
            classes = cfg_lookup(cfg, "MODEL.NUM_CLASSES")
            fields["num_classes"] = tuple(int(c) for c in (classes if isinstance(classes, (list, tuple)) else [classes]))
        for field, key in (("frames", "AUDIO_DATA.NUM_FRAMES"), ("mels", "AUDIO_DATA.NUM_FREQUENCIES"),
                           ("alpha", "SLOWFAST.ALPHA"), ("beta_inv", "SLOWFAST.BETA_INV"),
                           ("fusion_ratio", "SLOWFAST.FUSION_CONV_CHANNEL_RATIO"), ("fusion_kernel", "SLOWFAST.FUSION_KERNEL_SZ")):
            if cfg_lookup(cfg, key) is not None:
                fields[field] = int(cfg_lookup(cfg, key))
        if cfg_lookup(cfg, "RESNET.WIDTH_PER_GROUP") is not None:
            fields["width"] = int(cfg_lookup(cfg, "RESNET.WIDTH_PER_GROUP")) * int(cfg_lookup(cfg, "RESNET.NUM_GROUPS") or 1)
        if cfg_lookup(cfg, "RESNET.DEPTH") is not None:
            fields["depths"] = DEPTHS_BY_RESNET_DEPTH[int(cfg_lookup(cfg, "RESNET.DEPTH"))]
        if cfg_lookup(cfg, "RESNET.FREQUENCY_STRIDES") is not None:
            fields["freq_strides"] = tuple(int(s[0]) for s in cfg_lookup(cfg, "RESNET.FREQUENCY_STRIDES"))
        if cfg_lookup(cfg, "MODEL.DROPOUT_RATE") is not None:
            fields["dropout"] = float(cfg_lookup(cfg, "MODEL.DROPOUT_RATE"))
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise CheckpointError(f"cfg is unreadable for SlowFast: {exc}") from None
    return fields, None


def check_strides_against_state(config: SlowFastConfig, state: Mapping[str, Any]) -> str | None:
    """Every stage's first block changes width, so every one has branch1: the strides leave no trace."""
    return None


def loaded_warnings(model) -> list[str]:
    return []


def official_cfg(config: SlowFastConfig, form: str = "training", frontend=None) -> dict[str, Any]:
    depth = next((d for d, blocks in DEPTHS_BY_RESNET_DEPTH.items() if blocks == tuple(config.depths)), 50)
    audio: dict[str, Any] = {"NUM_FRAMES": config.frames, "NUM_FREQUENCIES": config.mels}
    if frontend is not None:
        rate = frontend.sample_rate
        audio.update(SAMPLING_RATE=rate, WINDOW_LENGTH=round(frontend.win_length * 1000 / rate, 6),
                     HOP_LENGTH=round(frontend.hop_length * 1000 / rate, 6), CLIP_SECS=frontend.clip_seconds)
    return {
        "DATA": {"INPUT_CHANNEL_NUM": [config.in_channels, config.in_channels]},
        "AUDIO_DATA": audio,
        "SLOWFAST": {"ALPHA": config.alpha, "BETA_INV": config.beta_inv,
                     "FUSION_CONV_CHANNEL_RATIO": config.fusion_ratio, "FUSION_KERNEL_SZ": config.fusion_kernel},
        "RESNET": {"DEPTH": depth, "WIDTH_PER_GROUP": config.width, "NUM_GROUPS": 1, "TRANS_FUNC": "bottleneck_transform",
                   "FREQUENCY_STRIDES": [[s, s] for s in config.freq_strides]},
        "MODEL": {"ARCH": "slowfast", "MODEL_NAME": OFFICIAL_MODEL_NAME, "NUM_CLASSES": list(config.num_classes),
                  "DROPOUT_RATE": config.dropout},
        "NUM_GPUS": 1,
    }
