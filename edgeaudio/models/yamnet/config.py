"""Configuration of YAMNet (tensorflow/models research/audioset/yamnet): MobileNetV1 on 96x64 log-mel patches."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from edgeaudio.errors import ConfigError
from edgeaudio.jsonable import config_from_dict, to_lists

# (kind, stride, filters) of the official _YAMNET_LAYER_DEFS; every kernel is 3x3.
LAYERS: tuple[tuple[str, int, int], ...] = (
    ("conv", 2, 32),
    ("separable", 1, 64),
    ("separable", 2, 128),
    ("separable", 1, 128),
    ("separable", 2, 256),
    ("separable", 1, 256),
    ("separable", 2, 512),
    ("separable", 1, 512),
    ("separable", 1, 512),
    ("separable", 1, 512),
    ("separable", 1, 512),
    ("separable", 1, 512),
    ("separable", 2, 1024),
    ("separable", 1, 1024),
)


def scaled_channels(filters: int, width: float) -> int:
    """A layer's channels under the width multiplier: round(filters * width), at least 1."""
    return max(1, int(round(filters * width)))


@dataclass(frozen=True)
class YAMNetConfig:
    """Official defaults: 521 AudioSet classes, sigmoid, 96 frames x 64 mel bands, BN eps 1e-4 (centre only).

    `width` scales every layer's channels (MobileNet's width multiplier); 1.0 is the official network.
    """

    num_classes: tuple[int, ...] = (521,)
    frames: int = 96
    mels: int = 64
    in_channels: int = 1
    width: float = 1.0
    bn_eps: float = 1e-4
    head_act: str = "sigmoid"

    def __post_init__(self) -> None:
        if len(self.num_classes) != 1 or self.num_classes[0] < 1:
            raise ConfigError(f"invalid YAMNet config: one head with at least one class, got {self.num_classes}")
        if self.in_channels != 1 or self.frames < 32 or self.mels < 32:
            raise ConfigError(
                f"invalid YAMNet config: one input channel and at least 32x32 patches (got {self.in_channels} "
                f"channel(s), {self.frames}x{self.mels})"
            )
        if not 0 < self.width <= 4 or self.head_act not in ("sigmoid", "softmax"):
            raise ConfigError(f"invalid YAMNet config: width in (0, 4] and head_act sigmoid|softmax (got {self.width}, {self.head_act!r})")

    def channels(self, filters: int) -> int:
        return scaled_channels(filters, self.width)

    @property
    def embedding_size(self) -> int:
        return self.channels(LAYERS[-1][2])

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (1, self.in_channels, self.frames, self.mels)

    def to_dict(self) -> dict:
        return to_lists(asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> "YAMNetConfig":
        """Inverse of to_dict; unknown keys are a ConfigError."""
        return config_from_dict(cls, data, "YAMNet")
