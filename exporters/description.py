"""What one export produces: names, shapes and layout of the inputs and outputs. Kept apart from the machinery."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from edgeaudio.errors import EdgeAudioError


class ExportError(EdgeAudioError):
    """A converter could not produce a model that meets edgeaudio's rules (builtin ops only, no body
    transposes, int8 tensors at the ends). Exit status 2: the model or options must change."""

    exit_code = 2


@dataclass(frozen=True)
class ExportDescription:
    """Inputs and outputs of an exported model, as PyTorch sees them (NCHW)."""

    arch: str
    input_name: str
    input_shape: tuple[int, int, int, int]  # (batch, channels, time frames, mel bins)
    output_names: tuple[str, ...]
    output_kind: str  # "probabilities" or "logits"
    num_classes: tuple[int, ...]
    activation: str = "softmax"  # the head's: "softmax" (single-label) or "sigmoid" (multi-label)

    def to_dict(self) -> dict:
        return asdict(self)
