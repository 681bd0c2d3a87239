"""Configuration of the auditory Slow-Fast network (Kazakos et al.), defaults from its VGG-Sound SLOWFAST_R50."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from edgeaudio.errors import ConfigError
from edgeaudio.jsonable import config_from_dict, to_lists


@dataclass(frozen=True)
class SlowFastConfig:
    """The fast pathway takes the spectrogram (N, 1, frames, mels); the slow one every alpha-th frame of it."""

    num_classes: tuple[int, ...] = (309,)
    frames: int = 512
    mels: int = 128
    in_channels: int = 1
    width: int = 64  # slow stem channels; the fast pathway has width / beta_inv
    depths: tuple[int, int, int, int] = (3, 4, 6, 3)
    alpha: int = 4  # frame-rate ratio of fast to slow
    beta_inv: int = 8  # channel ratio of slow to fast
    fusion_ratio: int = 2  # channels of a fast-to-slow fusion conv, per fast channel
    fusion_kernel: int = 7
    freq_strides: tuple[int, int, int, int] = (1, 2, 2, 2)
    slow_kernels: tuple[int, int, int, int, int] = (1, 1, 1, 3, 3)  # time taps: stem, then res2..res5
    fast_kernels: tuple[int, int, int, int, int] = (5, 3, 3, 3, 3)
    dropout: float = 0.5
    head_act: str = "softmax"
    bn_eps: float = 1e-5

    def __post_init__(self) -> None:
        if not self.num_classes or len(self.num_classes) > 2 or min(self.num_classes) < 1:
            raise ConfigError(f"invalid SlowFast config: num_classes must be one or two counts, got {self.num_classes}")
        if self.width % self.beta_inv or self.frames % (4 * self.alpha) or self.mels < 32:
            raise ConfigError(
                f"invalid SlowFast config: width must divide by beta_inv, frames by 4*alpha, and mels be >= 32 "
                f"(got width {self.width}, beta_inv {self.beta_inv}, frames {self.frames}, alpha {self.alpha}, mels {self.mels})"
            )
        kernels = (*self.slow_kernels, *self.fast_kernels, self.fusion_kernel)
        if len(self.slow_kernels) != 5 or len(self.fast_kernels) != 5 or min(kernels) < 1 or not all(k % 2 for k in kernels):
            # every time kernel is padded by k // 2 on both sides: an even one would shift the time axis
            raise ConfigError(
                f"invalid SlowFast config: slow_kernels and fast_kernels need five odd time kernels (stem, res2..res5) "
                f"and fusion_kernel must be odd (got {self.slow_kernels}, {self.fast_kernels}, {self.fusion_kernel})"
            )
        if self.head_act not in ("softmax", "sigmoid"):
            raise ConfigError(f"invalid SlowFast config: head_act must be softmax or sigmoid, got {self.head_act!r}")

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (1, self.in_channels, self.frames, self.mels)

    @property
    def head_pools(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """Average-pool kernels of the slow and fast head, by the official rule."""
        return (self.frames // self.alpha // 4, self.mels // 32), (self.frames // 4, self.mels // 32)

    def final_maps(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """Time x frequency size of the slow and fast pathways' last-stage outputs for this config's input."""
        maps = []
        for frames, taps in ((self.frames // self.alpha, self.slow_kernels[0]), (self.frames, self.fast_kernels[0])):
            t, f = (frames + 2 * (taps // 2) - taps) // 2 + 1, (self.mels - 1) // 2 + 1  # stem conv (taps x 7), stride 2
            t, f = (t - 1) // 2 + 1, (f - 1) // 2 + 1  # max pool 3x3, stride 2, padding 1
            for stride in self.freq_strides:  # stages stride frequency only
                f = (f - 1) // stride + 1
            maps.append((t, f))
        return maps[0], maps[1]

    def to_dict(self) -> dict:
        return to_lists(asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> "SlowFastConfig":
        """Inverse of to_dict; unknown keys are a ConfigError."""
        return config_from_dict(cls, data, "SlowFast")
