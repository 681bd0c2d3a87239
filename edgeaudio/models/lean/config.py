"""Configuration of edgeaudio's LEAN-style model (after Choudhary et al., LEAN, INDICON 2022).

The paper's public facts are its abstract only; every size here is edgeaudio's design, written down in
network.py and docs/models.md. Defaults target FSD50K (200 classes, multi-label) within a 4.5 MB int8 budget.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from edgeaudio.errors import ConfigError
from edgeaudio.jsonable import config_from_dict, to_lists

SAMPLE_RATE = 16000
PATCH_SAMPLES = 15600  # one YAMNet patch: 96 frames of 10 ms with a 25 ms window
PATCH_HOP_SAMPLES = 7680  # patches every 48 frames (0.48 s)


@dataclass(frozen=True)
class LEANConfig:
    """A window of `patches` YAMNet patches of 16 kHz waveform, (N, samples) in [-1, 1].

    yamnet_width: the YAMNet branch's width multiplier (1.0: the official network, whose weights load into it).
    filters: learned quadrature filter pairs of the wave encoder's first layer (one energy channel per pair).
    channels / blocks: the wave encoder's width after its stride-2 conv, and its residual separable blocks.
    dim / heads: cross-attention width and heads.
    """

    num_classes: tuple[int, ...] = (200,)
    patches: int = 3
    yamnet_width: float = 1.0
    filters: int = 32
    channels: int = 128
    blocks: int = 2
    kernel: int = 5
    dim: int = 128
    heads: int = 4
    head_act: str = "sigmoid"
    freeze_yamnet: bool = True
    bn_eps: float = 1e-5

    def __post_init__(self) -> None:
        problems = []
        if len(self.num_classes) != 1 or self.num_classes[0] < 1:
            problems.append(f"one head with at least one class (got {self.num_classes})")
        if self.patches < 1:
            problems.append(f"at least one patch (got {self.patches})")
        if self.dim % self.heads:
            problems.append(f"dim {self.dim} must divide by heads {self.heads}")
        if self.kernel % 2 == 0 or min(self.filters, self.channels, self.dim) < 1 or self.blocks < 0:
            problems.append("odd kernel, positive widths, blocks >= 0")
        if self.head_act not in ("sigmoid", "softmax"):
            problems.append(f"head_act sigmoid|softmax (got {self.head_act!r})")
        if problems:
            raise ConfigError("invalid LEAN-style config: " + "; ".join(problems))

    @property
    def samples(self) -> int:
        """Waveform samples of one window: one patch plus a patch hop per further patch."""
        return PATCH_SAMPLES + (self.patches - 1) * PATCH_HOP_SAMPLES

    @property
    def stft_frames(self) -> int:
        """10 ms frames of one window (YAMNet's log-mel frames and the wave encoder's first layer alike)."""
        return 96 + (self.patches - 1) * 48

    @property
    def wave_frames(self) -> int:
        """20 ms frames of the wave encoder's output sequence (an unpadded 3-tap, stride-2 conv)."""
        return (self.stft_frames - 3) // 2 + 1

    @property
    def input_shape(self) -> tuple[int, int]:
        return (1, self.samples)

    def to_dict(self) -> dict:
        return to_lists(asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> "LEANConfig":
        """Inverse of to_dict; unknown keys are a ConfigError."""
        return config_from_dict(cls, data, "LEAN-style")
