"""Models edgeaudio serves, each registered with how to build it and read its checkpoints."""

from edgeaudio.models.audiorepinceptionnext import AudioRepInceptionNeXt, AudioRepInceptionNeXtConfig
from edgeaudio.models.audiorepinceptionnext import layout as _arinext_layout
from edgeaudio.models.audiorepinceptionnext.blocks import FORMS as _ARINEXT_FORMS
from edgeaudio.models.audiorepinceptionnext.export import exportable as _arinext_exportable
from edgeaudio.models.registry import ModelSpec, get_spec, known_names, register, spec_for_state

# Dataset presets of the official training runs (shared/MODELS.md): classes and input size.
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
    )
)

__all__ = ["AudioRepInceptionNeXt", "AudioRepInceptionNeXtConfig", "ModelSpec", "get_spec", "known_names", "spec_for_state"]
