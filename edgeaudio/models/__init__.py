"""Models edgeaudio serves, each registered with how to build it and read its checkpoints."""

from edgeaudio.frontend import PRESETS, yamnet_waveform

from edgeaudio.models.audiorepinceptionnext import (
    AudioRepInceptionNeXt,
    AudioRepInceptionNeXtConfig,
)
from edgeaudio.models.audiorepinceptionnext import layout as _arinext_layout
from edgeaudio.models.audiorepinceptionnext.blocks import FORMS as _ARINEXT_FORMS
from edgeaudio.models.audiorepinceptionnext.export import (
    exportable as _arinext_exportable,
)
from edgeaudio.models.lean import LEANConfig, LEANStyle
from edgeaudio.models.lean import layout as _lean_layout
from edgeaudio.models.lean.network import FORMS as _LEAN_FORMS
from edgeaudio.models.registry import (
    ModelSpec,
    get_spec,
    keras_specs,
    known_names,
    register,
    spec_for_state,
)
from edgeaudio.models.slowfast import SlowFast, SlowFastConfig
from edgeaudio.models.slowfast import layout as _slowfast_layout
from edgeaudio.models.slowfast.export import exportable as _slowfast_exportable
from edgeaudio.models.slowfast.network import FORMS as _SLOWFAST_FORMS
from edgeaudio.models.yamnet import YAMNet, YAMNetConfig
from edgeaudio.models.yamnet import keras_weights as _yamnet_keras
from edgeaudio.models.yamnet import layout as _yamnet_layout
from edgeaudio.models.yamnet.network import FORMS as _YAMNET_FORMS

# Dataset presets of the official training runs (the configs of the official AudioRepInceptionNeXt code): classes
# and input size. UrbanSound8K's config says 35 classes; its checkpoint's head has 10, and the head wins.
AUDIOREPINCEPTIONNEXT_PRESETS = {
    "vggsound": {"num_classes": (309,), "frames": 512, "mels": 128},
    "epic-sounds": {"num_classes": (44,), "frames": 416, "mels": 128},
    "epic-kitchens": {"num_classes": (97, 300), "frames": 416, "mels": 128},
    "speechcommands": {"num_classes": (35,), "frames": 512, "mels": 128},
    "nsynth": {"num_classes": (11,), "frames": 416, "mels": 128},
    "urbansound8k": {"num_classes": (10,), "frames": 416, "mels": 128},
}

register(
    ModelSpec(
        name="audiorepinceptionnext",
        title="AudioRepInceptionNeXt",
        config_cls=AudioRepInceptionNeXtConfig,
        build_fn=AudioRepInceptionNeXt,
        forms=_ARINEXT_FORMS,
        layout=_arinext_layout,
        presets=AUDIOREPINCEPTIONNEXT_PRESETS,
        exportable=_arinext_exportable,
        form_labels={
            "training": "training (three branches per axis, BN everywhere)",
            "inference": "official deploy (a_reparam/b_reparam, identity add, BN kept)",
            "folded": "edgeaudio folded (every BN and the identity folded)",
        },
    )
)


register(
    ModelSpec(
        name="slowfast",
        title="Slow-Fast (auditory)",
        config_cls=SlowFastConfig,
        build_fn=SlowFast,
        forms=_SLOWFAST_FORMS,
        layout=_slowfast_layout,
        presets={"vggsound": {"num_classes": (309,), "frames": 512, "mels": 128}},
        exportable=_slowfast_exportable,
        form_labels={"training": "training (BN everywhere)", "folded": "edgeaudio folded (every BN folded)"},
    )
)


def _eval_copy(model, output: str):
    """The export form of a model whose graph needs no rewrite: an eval-mode copy returning `output`."""
    import copy

    return copy.deepcopy(model).eval().set_output(output)


register(
    ModelSpec(
        name="yamnet",
        title="YAMNet",
        config_cls=YAMNetConfig,
        build_fn=YAMNet,
        forms=_YAMNET_FORMS,
        layout=_yamnet_layout,
        keras=_yamnet_keras,
        presets={"audioset": {"num_classes": (521,), "frames": 96, "mels": 64}},
        exportable=_eval_copy,
        default_frontend=lambda config: PRESETS["yamnet"],
        form_labels={"training": "training (BN without scale, eps 1e-4)", "folded": "edgeaudio folded (every BN folded)"},
    )
)

register(
    ModelSpec(
        name="lean",
        title="LEAN-style (wave encoder + YAMNet + cross-attention)",
        config_cls=LEANConfig,
        build_fn=LEANStyle,
        forms=_LEAN_FORMS,
        layout=_lean_layout,
        presets={"fsd50k": {"num_classes": (200,)}},
        exportable=_eval_copy,
        input_name="waveform",
        allow_transpose=True,  # the attention splits heads: (N, T, heads, d) -> (N, heads, T, d)
        form_labels={"training": "training (BN in the wave encoder and YAMNet)", "folded": "edgeaudio folded (every BN folded)"},
        input_layout="(batch, samples): 16 kHz mono waveform in [-1, 1]",
        int8_float_until=("LOG",),  # log-mel and the wave filters' log energy stay float; see models/lean/network.py
        default_frontend=lambda config: yamnet_waveform(config.patches),
    )
)

__all__ = ["LEANConfig", "LEANStyle", "YAMNet", "YAMNetConfig", "AudioRepInceptionNeXt", "AudioRepInceptionNeXtConfig", "SlowFast", "SlowFastConfig", "ModelSpec", "get_spec", "keras_specs", "known_names", "spec_for_state"]
