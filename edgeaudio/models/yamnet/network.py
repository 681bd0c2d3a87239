"""YAMNet (Plakal & Ellis, tensorflow/models research/audioset/yamnet) in PyTorch: MobileNetV1 on one 96x64
log-mel patch, module names after the official Keras layer names so that its weights map one to one.

TensorFlow details that change numbers, kept exactly:
- "same" padding puts the odd extra pixel of a stride-2 conv at the bottom/right (PyTorch pads both sides);
- batch norm has a centre (beta) but no scale (gamma), eps 1e-4;
- the head is global average pool -> 1024-d embedding -> Dense(521) with bias -> sigmoid.
Forms: "training" (batch norms) and "folded" (each batch norm folded into the conv before it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgeaudio.fold.pairs import fold_pairs
from edgeaudio.models.common import OutputSelection, activate
from edgeaudio.models.yamnet.config import LAYERS, YAMNetConfig

FORMS = ("training", "folded")


def same_padding(size: int, stride: int, kernel: int = 3) -> tuple[int, int]:
    """TensorFlow "same" padding (before, after) of one axis: the odd pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class CenterBatchNorm(nn.Module):
    """Keras BatchNormalization(center=True, scale=False): a beta and running statistics, no gamma."""

    counts_as_batchnorm = True  # 2 ops per element in fvcore-style totals, like nn.BatchNorm2d

    def __init__(self, channels: int, eps: float):
        super().__init__()
        self.eps = eps
        self.momentum = 0.01  # Keras momentum 0.99
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    @property
    def weight(self) -> Tensor:
        """The scale the fold arithmetic expects: ones, since Keras learned none."""
        return torch.ones_like(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, None, self.bias, self.training, self.momentum, self.eps)


def same_conv(c_in: int, c_out: int, stride: int, groups: int, size: tuple[int, int], bias: bool) -> tuple[nn.Module, nn.Conv2d]:
    """(pad, conv): a 3x3 conv with TensorFlow "same" padding for a known input size. Where TF pads
    symmetrically the conv pads itself; where it does not, an explicit zero pad (bottom/right) comes first."""
    (top, bottom), (left, right) = (same_padding(s, stride) for s in size)
    if top == bottom and left == right:
        return nn.Identity(), nn.Conv2d(c_in, c_out, 3, stride, (top, left), groups=groups, bias=bias)
    return nn.ZeroPad2d((left, right, top, bottom)), nn.Conv2d(c_in, c_out, 3, stride, 0, groups=groups, bias=bias)


class ConvLayer(nn.Module):
    """Official `layer1`: full 3x3 conv, BN, ReLU (Keras `layer1/conv`, `layer1/conv/bn`)."""

    def __init__(self, c_in: int, c_out: int, stride: int, size: tuple[int, int], eps: float, folded: bool):
        super().__init__()
        self.conv_pad, self.conv = same_conv(c_in, c_out, stride, 1, size, folded)
        self.conv_bn = nn.Identity() if folded else CenterBatchNorm(c_out, eps)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.conv_bn(self.conv(self.conv_pad(x))))

    def fold(self) -> nn.Module:
        return fold_pairs(self, [("conv", "conv_bn")])


class SeparableLayer(nn.Module):
    """Official `layerN` (N >= 2): depthwise 3x3 + BN + ReLU, then pointwise 1x1 + BN + ReLU
    (Keras `layerN/depthwise_conv`, `layerN/depthwise_conv/bn`, `layerN/pointwise_conv`, `layerN/pointwise_conv/bn`)."""

    def __init__(self, c_in: int, c_out: int, stride: int, size: tuple[int, int], eps: float, folded: bool):
        super().__init__()
        self.depthwise_pad, self.depthwise_conv = same_conv(c_in, c_in, stride, c_in, size, folded)
        self.depthwise_conv_bn = nn.Identity() if folded else CenterBatchNorm(c_in, eps)
        self.pointwise_conv = nn.Conv2d(c_in, c_out, 1, bias=folded)
        self.pointwise_conv_bn = nn.Identity() if folded else CenterBatchNorm(c_out, eps)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.depthwise_conv_bn(self.depthwise_conv(self.depthwise_pad(x))))
        return F.relu(self.pointwise_conv_bn(self.pointwise_conv(x)))

    def fold(self) -> nn.Module:
        return fold_pairs(self, [("depthwise_conv", "depthwise_conv_bn"), ("pointwise_conv", "pointwise_conv_bn")])


class Head(nn.Module):
    """Global average pool -> embedding -> `logits` Dense -> sigmoid (or softmax) when probabilities are asked."""

    def __init__(self, embedding: int, num_classes: int, act: str):
        super().__init__()
        self.logits = nn.Linear(embedding, num_classes)
        self.act = act
        self.output = "probs"

    def forward(self, features: Tensor) -> Tensor:
        logits = self.logits(features.mean(dim=(2, 3)))
        return activate(self, logits)


class YAMNet(OutputSelection, nn.Module):
    """Takes log-mel patches (N, 1, frames, mels); returns class probabilities (eval) or logits.

    `features` gives the last feature map (N, 1024, frames/32, mels/32); `embedding` its global average, the
    1024-d YAMNet embedding.
    """

    arch = "yamnet"

    def __init__(self, config: YAMNetConfig, form: str = "training"):
        super().__init__()
        if form not in FORMS:
            raise ValueError(f"unknown form {form!r}; expected one of {FORMS}")
        self.config, self.form = config, form
        folded, size, c_in = form == "folded", (config.frames, config.mels), config.in_channels
        for i, (kind, stride, filters) in enumerate(LAYERS, start=1):
            c_out = config.channels(filters)
            cls = ConvLayer if kind == "conv" else SeparableLayer
            self.add_module(f"layer{i}", cls(c_in, c_out, stride, size, config.bn_eps, folded))
            size, c_in = (-(-size[0] // stride), -(-size[1] // stride)), c_out
        self.head = Head(c_in, config.num_classes[0], config.head_act)

    def features(self, x: Tensor) -> Tensor:
        for i in range(1, len(LAYERS) + 1):
            x = getattr(self, f"layer{i}")(x)
        return x

    def embedding(self, x: Tensor) -> Tensor:
        return self.features(x).mean(dim=(2, 3))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))
