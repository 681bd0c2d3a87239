"""How AudioRepInceptionNeXt appears in checkpoints: key names, forms, and the official fvcore config.

Reading side: recognise a state dict, tell its form, read the architecture from weight shapes and from the
official `cfg` YAML. Writing side: the `cfg` an official training run would have dumped for a config.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from edgeaudio.errors import CheckpointError
from edgeaudio.models.audiorepinceptionnext.config import (
    DEPTHS_BY_RESNET_DEPTH,
    OFFICIAL_KERNELS,
    STAGE_NAMES,
    AudioRepInceptionNeXtConfig,
)
from edgeaudio.models.common import cfg_lookup

OFFICIAL_MODEL_NAME = "AudioRepInceptionNeXt"
TRAIN_TRANS_FUNC = "ms_threeway_dw_bottleneck_transform"
INFERENCE_TRANS_FUNC = "ms_threeway_dw_bottleneck_inference_transform"
_BLOCK_KEY = re.compile(r"^(s[2-5])\.pathway0_res(\d+)\.")
_MEDIUM, _SMALL = OFFICIAL_KERNELS[1], OFFICIAL_KERNELS[2]  # fixed in the official code


# -- reading weights ----------------------------------------------------------------------------------
def recognises(state: Mapping[str, Any]) -> bool:
    """True if the keys are AudioRepInceptionNeXt's (stem plus multi-scale depthwise blocks)."""
    return "s1.pathway0_stem.conv.weight" in state and any(
        k.endswith((".branch2.a_medium.weight", ".branch2.a_reparam.weight")) for k in state
    )


def detect_form(state: Mapping[str, Any]) -> str:
    """Which form the weights are in: training, merged, inference or folded."""
    has_branches = any(k.endswith(".branch2.a.weight") for k in state)
    has_reparam = any(k.endswith(".branch2.a_reparam.weight") for k in state)
    if has_branches and has_reparam:
        return "merged"
    if has_branches:
        return "training"
    if any(k.endswith(".branch2.a_head_bn.weight") for k in state):
        return "inference"
    return "folded"


def config_from_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """Config fields that the weight shapes settle. Strides, frames and mels leave no trace and are absent."""
    stem = state["s1.pathway0_stem.conv.weight"]
    if stem.dim() != 4:
        raise CheckpointError(f"s1.pathway0_stem.conv.weight has shape {tuple(stem.shape)}, expected 4 dimensions")
    fields: dict[str, Any] = {"width": int(stem.shape[0]), "in_channels": int(stem.shape[1])}
    fields["stem_kernel"] = (int(stem.shape[2]), int(stem.shape[3]))
    blocks: dict[str, set[int]] = {name: set() for name in STAGE_NAMES}
    for key in state:
        match = _BLOCK_KEY.match(key)
        if match:
            blocks[match.group(1)].add(int(match.group(2)))
    fields["depths"] = tuple(len(blocks[name]) for name in STAGE_NAMES)
    first = "s2.pathway0_res0.branch2"
    if f"{first}.a_head.weight" in state and f"{first}.c.weight" in state:
        dim = state[f"{first}.a_head.weight"].shape[0]
        fields["mlp_ratio"] = max(1, int(state[f"{first}.c.weight"].shape[0] // dim))
    for axis, field, dim_index in (("a", "time_kernels", 2), ("b", "freq_kernels", 3)):
        sets = [_kernel_set(state, f"{name}.pathway0_res0.branch2", axis, dim_index) for name in STAGE_NAMES]
        if all(s is not None for s in sets):
            fields[field] = tuple(sets)
    if "head.projection.weight" in state:
        fields["num_classes"] = (int(state["head.projection.weight"].shape[0]),)
    elif "head.projection_verb.weight" in state and "head.projection_noun.weight" in state:
        fields["num_classes"] = (
            int(state["head.projection_verb.weight"].shape[0]),
            int(state["head.projection_noun.weight"].shape[0]),
        )
    return fields


def _kernel_set(state: Mapping[str, Any], prefix: str, axis: str, dim_index: int) -> tuple[int, ...] | None:
    branches = [f"{prefix}.{axis}{suffix}.weight" for suffix in ("", "_medium", "_small")]
    if all(name in state for name in branches):
        return tuple(int(state[name].shape[dim_index]) for name in branches)
    reparam = f"{prefix}.{axis}_reparam.weight"
    if reparam in state:  # only the large size survives reparameterisation; the others do not shape anything
        large = int(state[reparam].shape[dim_index])
        return (large, min(_MEDIUM, large), min(_SMALL, large))
    return None


def projection_blocks(state: Mapping[str, Any]) -> set[str]:
    """Names like "s2.pathway0_res0" of the blocks that carry a projection shortcut (branch1)."""
    return {k.rsplit(".branch1.weight", 1)[0] for k in state if k.endswith(".branch1.weight")}


def check_strides_against_state(config: AudioRepInceptionNeXtConfig, state: Mapping[str, Any]) -> str | None:
    """A sentence naming the first block whose shortcut contradicts the configured strides, or None.

    A block has a projection shortcut exactly when its width or stride changes, so the weights show which
    stage-first blocks downsample when the width stays the same.
    """
    present = projection_blocks(state)
    dim_in = config.width
    for i, name in enumerate(STAGE_NAMES):
        stride = (config.time_strides[i], config.freq_strides[i])
        needs = dim_in != config.stage_widths[i] or stride != (1, 1)
        block = f"{name}.pathway0_res0"
        if needs != (block in present):
            said = f"stride {stride}" if stride != (1, 1) else "no stride"
            has = "has" if block in present else "has no"
            return f"the config gives stage {name} {said}, but the weights {has} {block}.branch1"
        dim_in = config.stage_widths[i]
    return None


def loaded_warnings(model) -> list[str]:
    """What a user should know about weights that loaded: merged-form files whose two copies disagree."""
    drift = max((block.branch2.reparam_drift() for block in model.blocks()), default=0.0)
    if drift <= 1e-4:
        return []
    return [
        f"stored a_reparam/b_reparam weights differ from the fold of the stored branches by up to {drift:.3g}; "
        f"like the official merge mode, the model computes with the stored reparameterised weights"
    ]


# -- the official cfg ---------------------------------------------------------------------------------
def _per_stage(value: Any, key: str) -> tuple[int, int, int, int]:
    """[[1], [2], [2], [2]] (one list per stage, one entry per pathway) -> (1, 2, 2, 2)."""
    try:
        out = tuple(int(v[0] if isinstance(v, (list, tuple)) else v) for v in value)
    except (TypeError, ValueError, IndexError) as exc:
        raise CheckpointError(f"cfg {key} is unreadable ({value!r}): {exc}") from None
    if len(out) != 4:
        raise CheckpointError(f"cfg {key} should list 4 stages, got {value!r}")
    return out  # type: ignore[return-value]


def _kernel_sizes(value: Any, key: str) -> tuple[int, ...]:
    """[[[5]], [[21]], [[21]], [[21]], [[21]]] -> (5, 21, 21, 21, 21): stem kernel, then one per stage."""
    try:
        out = tuple(int(v[0][0]) for v in value)
    except (TypeError, ValueError, IndexError) as exc:
        raise CheckpointError(f"cfg {key} is unreadable ({value!r}): {exc}") from None
    if len(out) != 5:
        raise CheckpointError(f"cfg {key} should list the stem and 4 stages, got {value!r}")
    return out


def config_from_official_cfg(cfg: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Config fields stated by an official cfg (parsed YAML), and the form it announces (or None).

    Raises CheckpointError if the cfg names another model or states something this architecture cannot be.
    """
    name = cfg_lookup(cfg, "MODEL.MODEL_NAME")
    if name is not None and name != OFFICIAL_MODEL_NAME:
        raise CheckpointError(f"cfg MODEL.MODEL_NAME is {name!r}, but the weights are {OFFICIAL_MODEL_NAME}'s")
    fields: dict[str, Any] = {}
    classes = cfg_lookup(cfg, "MODEL.NUM_CLASSES")
    if classes is not None:
        fields["num_classes"] = tuple(int(c) for c in (classes if isinstance(classes, (list, tuple)) else [classes]))
    for field, keys in (
        ("frames", ("AUDIO_DATA.NUM_FRAMES", "DATA.NUM_FRAMES")),
        ("mels", ("AUDIO_DATA.NUM_FREQUENCIES", "DATA.NUM_FREQUENCIES")),
    ):
        for key in keys:
            if cfg_lookup(cfg, key) is not None:
                fields[field] = int(cfg_lookup(cfg, key))
                break
    channels = cfg_lookup(cfg, "DATA.INPUT_CHANNEL_NUM")
    if channels is not None:
        fields["in_channels"] = int(channels[0] if isinstance(channels, (list, tuple)) else channels)
    width, groups = cfg_lookup(cfg, "RESNET.WIDTH_PER_GROUP"), cfg_lookup(cfg, "RESNET.NUM_GROUPS")
    if width is not None:
        fields["width"] = int(width) * int(groups or 1)
    blocks = cfg_lookup(cfg, "RESNET.NUM_BLOCKS")  # edgeaudio's extension for depths no ResNet depth names
    depth = cfg_lookup(cfg, "RESNET.DEPTH")
    if blocks is not None:
        fields["depths"] = tuple(int(b) for b in blocks)
    elif depth is not None:
        if int(depth) not in DEPTHS_BY_RESNET_DEPTH:
            raise CheckpointError(f"cfg RESNET.DEPTH {depth} is not one the official code builds (50 or 101)")
        fields["depths"] = DEPTHS_BY_RESNET_DEPTH[int(depth)]
    for field, key in (("time_strides", "RESNET.TIME_STRIDES"), ("freq_strides", "RESNET.FREQUENCY_STRIDES")):
        if cfg_lookup(cfg, key) is not None:
            fields[field] = _per_stage(cfg_lookup(cfg, key), key)
    for field, key, stem_axis in (
        ("time_kernels", "RESNET.TEMP_KERNEL_SIZES", 0),
        ("freq_kernels", "RESNET.FREQ_KERNEL_SIZES", 1),
    ):
        if cfg_lookup(cfg, key) is not None:
            sizes = _kernel_sizes(cfg_lookup(cfg, key), key)
            fields.setdefault("stem_kernel", [None, None])[stem_axis] = sizes[0]
            fields[field] = tuple((k, min(_MEDIUM, k), min(_SMALL, k)) for k in sizes[1:])
    if "stem_kernel" in fields:
        stem = fields.pop("stem_kernel")
        if None not in stem:
            fields["stem_kernel"] = tuple(stem)
    depths = fields.get("depths")
    for key in ("RESNET.NUM_BLOCK_TEMP_KERNEL", "RESNET.NUM_BLOCK_FREQ_KERNEL"):
        value = cfg_lookup(cfg, key)
        if value is not None and depths is not None and _per_stage(value, key) != tuple(depths):
            raise CheckpointError(
                f"cfg {key} {value} leaves some blocks with 1-tap kernels; edgeaudio supports the official "
                f"layout where every block has the multi-scale kernels"
            )
    if cfg_lookup(cfg, "MODEL.DROPOUT_RATE") is not None:
        fields["dropout"] = float(cfg_lookup(cfg, "MODEL.DROPOUT_RATE"))
    if cfg_lookup(cfg, "MODEL.HEAD_ACT") is not None:
        fields["head_act"] = str(cfg_lookup(cfg, "MODEL.HEAD_ACT"))
    form = None
    if cfg_lookup(cfg, "RESNET.TRANS_FUNC") == INFERENCE_TRANS_FUNC:
        form = "inference"
    elif cfg_lookup(cfg, "MODEL.MERGE_MODE") is True:
        form = "merged"
    return fields, form


def official_cfg(config: AudioRepInceptionNeXtConfig, form: str = "training", frontend=None) -> dict[str, Any]:
    """The cfg sections an official run with this config would dump (the architecture-deciding ones, and the
    AUDIO_DATA feature settings when the front end is given)."""
    depth = next((d for d, blocks in DEPTHS_BY_RESNET_DEPTH.items() if blocks == tuple(config.depths)), None)
    resnet: dict[str, Any] = {
        "DEPTH": depth if depth is not None else 50,
        "WIDTH_PER_GROUP": config.width,
        "NUM_GROUPS": 1,
        "TRANS_FUNC": INFERENCE_TRANS_FUNC if form == "inference" else TRAIN_TRANS_FUNC,
        "TIME_STRIDES": [[s] for s in config.time_strides],
        "FREQUENCY_STRIDES": [[s] for s in config.freq_strides],
        "FREQUENCY_DILATIONS": [[1]] * 4,
        "STRIDE_1X1": False,
        "ZERO_INIT_FINAL_BN": True,
        "NUM_BLOCK_TEMP_KERNEL": [[d] for d in config.depths],
        "NUM_BLOCK_FREQ_KERNEL": [[d] for d in config.depths],
        "TEMP_KERNEL_SIZES": [[[config.stem_kernel[0]]]] + [[[k[0]]] for k in config.time_kernels],
        "FREQ_KERNEL_SIZES": [[[config.stem_kernel[1]]]] + [[[k[0]]] for k in config.freq_kernels],
    }
    if depth is None:
        resnet["NUM_BLOCKS"] = list(config.depths)
    audio: dict[str, Any] = {"NUM_FRAMES": config.frames, "NUM_FREQUENCIES": config.mels}
    if frontend is not None:
        rate = frontend.sample_rate
        audio.update(
            SAMPLING_RATE=rate,
            WINDOW_LENGTH=round(frontend.win_length * 1000 / rate, 6),
            HOP_LENGTH=round(frontend.hop_length * 1000 / rate, 6),
            CLIP_SECS=frontend.clip_seconds,
        )
    return {
        "DATA": {"INPUT_CHANNEL_NUM": [config.in_channels]},
        "AUDIO_DATA": audio,
        "RESNET": resnet,
        "BN": {"USE_PRECISE_STATS": True},
        "MODEL": {
            "ARCH": "fast",
            "MODEL_NAME": OFFICIAL_MODEL_NAME,
            "NUM_CLASSES": list(config.num_classes),
            "DROPOUT_RATE": config.dropout,
            "HEAD_ACT": config.head_act,
            "MERGE_MODE": form == "merged",
        },
        "NUM_GPUS": 1,
        "NUM_SHARDS": 1,
        "RNG_SEED": 0,
    }

