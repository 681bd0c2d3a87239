"""Architecture configuration of AudioRepInceptionNeXt: every number that decides a layer's shape.

Defaults are the VGG-Sound configuration of the official code (StevenLauHKHK/AudioRepInceptionNeXt): 309 classes,
512 frames x 128 mel bins, ResNet-50 stage depths 3/4/6/3, widths 64-512, kernel sets 21/11/3.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from edgeaudio.errors import ConfigError
from edgeaudio.jsonable import config_from_dict, to_lists

KernelSet = tuple[int, int, int]  # (large, medium, small) taps of the three parallel depthwise branches

OFFICIAL_KERNELS: KernelSet = (21, 11, 3)
STAGE_NAMES = ("s2", "s3", "s4", "s5")
DEPTHS_BY_RESNET_DEPTH = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}


@dataclass(frozen=True)
class AudioRepInceptionNeXtConfig:
    """Shape-deciding hyper-parameters. Inputs are log-mel spectrograms (N, in_channels, frames, mels)."""

    num_classes: tuple[int, ...] = (309,)  # one head, or (verbs, nouns) for EPIC-KITCHENS
    frames: int = 512
    mels: int = 128
    in_channels: int = 1
    width: int = 64  # channels of the stem and of stage s2; s3..s5 double it each time
    depths: tuple[int, int, int, int] = (3, 4, 6, 3)
    stem_kernel: tuple[int, int] = (5, 7)
    time_strides: tuple[int, int, int, int] = (1, 2, 2, 2)
    freq_strides: tuple[int, int, int, int] = (1, 2, 2, 2)
    time_kernels: tuple[KernelSet, KernelSet, KernelSet, KernelSet] = (OFFICIAL_KERNELS,) * 4
    freq_kernels: tuple[KernelSet, KernelSet, KernelSet, KernelSet] = (OFFICIAL_KERNELS,) * 4
    mlp_ratio: int = 4
    dropout: float = 0.5
    head_act: str = "softmax"
    bn_eps: float = 1e-5

    def __post_init__(self) -> None:
        self.validate()

    # -- derived shapes -------------------------------------------------------------------------------
    @property
    def stage_widths(self) -> tuple[int, int, int, int]:
        return tuple(self.width * 2**i for i in range(4))  # type: ignore[return-value]

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """Batch-1 input shape, (N, C, T, F)."""
        return (1, self.in_channels, self.frames, self.mels)

    @property
    def head_pool(self) -> tuple[int, int]:
        """Kernel of the head's average pool, by the official rule: T / 4 / (time strides), F / 32."""
        return (self.frames // 4 // math.prod(self.time_strides), self.mels // 32)

    def final_map(self, frames: int | None = None, mels: int | None = None) -> tuple[int, int]:
        """Time x frequency size of the last stage's output for an input of frames x mels."""
        t, f = frames or self.frames, mels or self.mels
        kt, kf = self.stem_kernel
        t, f = (t + 2 * (kt // 2) - kt) // 2 + 1, (f + 2 * (kf // 2) - kf) // 2 + 1  # stem conv, stride 2
        t, f = (t - 1) // 2 + 1, (f - 1) // 2 + 1  # max pool 3x3, stride 2, padding 1
        for st, sf in zip(self.time_strides, self.freq_strides):
            t, f = (t - 1) // st + 1, (f - 1) // sf + 1
        return t, f

    # -- checks ---------------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise ConfigError naming the first field that cannot build a working network."""

        def fail(msg: str) -> None:
            raise ConfigError(f"invalid AudioRepInceptionNeXt config: {msg}")

        if not self.num_classes or len(self.num_classes) > 2 or any(c < 1 for c in self.num_classes):
            fail(f"num_classes must be one or two positive counts, got {self.num_classes}")
        for name in ("frames", "mels", "in_channels", "width", "mlp_ratio"):
            if getattr(self, name) < 1:
                fail(f"{name} must be positive, got {getattr(self, name)}")
        if len(self.depths) != 4 or any(d < 1 for d in self.depths):
            fail(f"depths must be four positive block counts, got {self.depths}")
        for name in ("time_strides", "freq_strides"):
            if len(getattr(self, name)) != 4 or any(s < 1 for s in getattr(self, name)):
                fail(f"{name} must be four positive strides, got {getattr(self, name)}")
        if any(k < 1 or k % 2 == 0 for k in self.stem_kernel):
            fail(f"stem_kernel must be two odd sizes, got {self.stem_kernel}")
        for name in ("time_kernels", "freq_kernels"):
            sets = getattr(self, name)
            if len(sets) != 4:
                fail(f"{name} needs one kernel set per stage (4), got {len(sets)}")
            for ks in sets:
                if len(ks) != 3 or any(k < 1 or k % 2 == 0 for k in ks) or not ks[0] >= ks[1] >= ks[2]:
                    fail(f"{name}: each set is three odd sizes, largest first (e.g. 21, 11, 3), got {ks}")
        if not 0.0 <= self.dropout < 1.0:
            fail(f"dropout must be in [0, 1), got {self.dropout}")
        if self.head_act not in ("softmax", "sigmoid"):
            fail(f"head_act must be softmax or sigmoid, got {self.head_act!r}")
        pt, pf = self.head_pool
        mt, mf = self.final_map()
        if pt < 1 or pf < 1 or pt > mt or pf > mf:
            fail(
                f"an input of {self.frames} frames x {self.mels} mels ends as a {mt}x{mf} map, which the "
                f"head's {pt}x{pf} pool (frames/4/strides x mels/32) cannot cover; use at least 32 mels "
                f"and enough frames"
            )

    # -- serialisation --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain JSON-able dict (lists for tuples)."""
        return to_lists(asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> "AudioRepInceptionNeXtConfig":
        """Inverse of to_dict; unknown keys are a ConfigError."""
        return config_from_dict(cls, data, "AudioRepInceptionNeXt")

