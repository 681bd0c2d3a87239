"""The auditory Slow-Fast network (Kazakos, Nagrani, Zisserman, Damen), the AudioRepInceptionNeXt paper's
baseline, with the official module tree and key names so that its checkpoints load strictly.

Two ResNet-50 pathways on one spectrogram: fast (all frames, 1/beta_inv of the channels) and slow (every
alpha-th frame, full channels), with fast-to-slow fusion after each of the first four stages. Strides act on
frequency only. Forms: "training" (batch norms) and "folded" (every batch norm folded into its conv).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from edgeaudio.fold.pairs import fold_pairs
from edgeaudio.models.common import OutputSelection, project
from edgeaudio.models.slowfast.config import SlowFastConfig

FORMS = ("training", "folded")
STAGES = ("s2", "s3", "s4", "s5")


def _conv(c_in: int, c_out: int, kernel, stride, padding, folded: bool) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=folded)


def _bn(channels: int, eps: float, folded: bool) -> nn.Module:
    return nn.Identity() if folded else nn.BatchNorm2d(channels, eps=eps, momentum=0.1)


class Stem(nn.Module):
    """conv (time taps x 7, stride 2), BN, ReLU, max pool 3x3 stride 2: official `s1.pathway{p}_stem`."""

    def __init__(self, c_out: int, time_taps: int, eps: float, folded: bool):
        super().__init__()
        self.conv = _conv(1, c_out, (time_taps, 7), (2, 2), (time_taps // 2, 3), folded)
        self.bn = _bn(c_out, eps, folded)
        self.relu = nn.ReLU()
        self.pool_layer = nn.MaxPool2d(3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool_layer(self.relu(self.bn(self.conv(x))))

    def fold(self) -> nn.Module:
        return fold_pairs(self, [("conv", "bn")])


class Fuse(nn.Module):
    """Fast-to-slow fusion: conv (k x 1, time stride alpha) of the fast tensor, concatenated after the slow one."""

    def __init__(self, c_fast: int, ratio: int, kernel: int, alpha: int, eps: float, folded: bool):
        super().__init__()
        self.conv_f2s = _conv(c_fast, c_fast * ratio, (kernel, 1), (alpha, 1), (kernel // 2, 0), folded)
        self.bn = _bn(c_fast * ratio, eps, folded)
        self.relu = nn.ReLU()

    def forward(self, slow: Tensor, fast: Tensor) -> Tensor:
        return torch.cat([slow, self.relu(self.bn(self.conv_f2s(fast)))], dim=1)

    def fold(self) -> nn.Module:
        return fold_pairs(self, [("conv_f2s", "bn")])


class Bottleneck(nn.Module):
    """Official `branch2`: (t x 1) conv, (1 x 3) conv carrying the frequency stride, 1x1 conv; BN after each."""

    def __init__(self, c_in: int, c_inner: int, c_out: int, taps: int, stride: int, eps: float, folded: bool):
        super().__init__()
        self.a = _conv(c_in, c_inner, (taps, 1), (1, 1), (taps // 2, 0), folded)
        self.a_bn = _bn(c_inner, eps, folded)
        self.a_relu = nn.ReLU()
        self.b = _conv(c_inner, c_inner, (1, 3), (1, stride), (0, 1), folded)
        self.b_bn = _bn(c_inner, eps, folded)
        self.b_relu = nn.ReLU()
        self.c = _conv(c_inner, c_out, (1, 1), (1, 1), (0, 0), folded)
        self.c_bn = _bn(c_out, eps, folded)

    def forward(self, x: Tensor) -> Tensor:
        x = self.a_relu(self.a_bn(self.a(x)))
        x = self.b_relu(self.b_bn(self.b(x)))
        return self.c_bn(self.c(x))


class ResBlock(nn.Module):
    """Residual block; `branch1` (1x1, frequency stride) + `branch1_bn` where width or stride change."""

    def __init__(self, c_in: int, c_inner: int, c_out: int, taps: int, stride: int, eps: float, folded: bool):
        super().__init__()
        if c_in != c_out or stride != 1:
            self.branch1 = _conv(c_in, c_out, 1, (1, stride), 0, folded)
            self.branch1_bn = _bn(c_out, eps, folded)
        self.branch2 = Bottleneck(c_in, c_inner, c_out, taps, stride, eps, folded)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        shortcut = self.branch1_bn(self.branch1(x)) if hasattr(self, "branch1") else x
        return self.relu(shortcut + self.branch2(x))

    def fold(self) -> nn.Module:
        pairs = [("branch1", "branch1_bn")] if hasattr(self, "branch1") else []
        folded = fold_pairs(self, pairs)
        folded.branch2 = fold_pairs(self.branch2, [("a", "a_bn"), ("b", "b_bn"), ("c", "c_bn")])
        return folded


class Container(nn.Module):
    """Holds official `pathway{p}_*` children; forward is done by the network."""


class Head(nn.Module):
    """Average pool per pathway, concatenation, dropout, projection(s); eval: softmax then mean over positions."""

    def __init__(self, dims: tuple[int, int], num_classes: tuple[int, ...], pools, dropout: float, act: str):
        super().__init__()
        for p, pool in enumerate(pools):
            self.add_module(f"pathway{p}_avgpool", nn.AvgPool2d(tuple(pool), stride=1))
        if dropout > 0:
            self.dropout = nn.Dropout(dropout)
        names = ("projection",) if len(num_classes) == 1 else ("projection_verb", "projection_noun")
        for name, n in zip(names, num_classes):
            self.add_module(name, nn.Linear(sum(dims), n))
        self.projection_names = names
        self.act = nn.Softmax(dim=3) if act == "softmax" else nn.Sigmoid()
        self.output = "probs"

    def forward(self, slow: Tensor, fast: Tensor) -> Tensor | tuple[Tensor, ...]:
        x = torch.cat([self.pathway0_avgpool(slow), self.pathway1_avgpool(fast)], dim=1).permute(0, 2, 3, 1)
        if hasattr(self, "dropout"):
            x = self.dropout(x)
        return project(self, x)


class SlowFast(OutputSelection, nn.Module):
    """Takes the fast-pathway spectrogram (N, 1, T, F), or the official [slow, fast] list."""

    arch = "slowfast"

    def __init__(self, config: SlowFastConfig, form: str = "training"):
        super().__init__()
        if form not in FORMS:
            raise ValueError(f"unknown form {form!r}; expected one of {FORMS}")
        self.config, self.form = config, form
        cfg, folded, eps = config, form == "folded", config.bn_eps
        slow_w, fast_w = cfg.width, cfg.width // cfg.beta_inv
        self.s1 = Container()
        self.s1.pathway0_stem = Stem(slow_w, cfg.slow_kernels[0], eps, folded)
        self.s1.pathway1_stem = Stem(fast_w, cfg.fast_kernels[0], eps, folded)
        slow_in, fast_in = slow_w + fast_w * cfg.fusion_ratio, fast_w
        self.s1_fuse = Fuse(fast_w, cfg.fusion_ratio, cfg.fusion_kernel, cfg.alpha, eps, folded)
        for i, name in enumerate(STAGES):
            stage = Container()
            slow_out, fast_out = slow_w * 4 * 2**i, fast_w * 4 * 2**i
            for p, (c_in, c_out, taps) in enumerate(((slow_in, slow_out, cfg.slow_kernels[i + 1]), (fast_in, fast_out, cfg.fast_kernels[i + 1]))):
                for j in range(cfg.depths[i]):
                    block = ResBlock(c_in if j == 0 else c_out, c_out // 4, c_out, taps, cfg.freq_strides[i] if j == 0 else 1, eps, folded)
                    stage.add_module(f"pathway{p}_res{j}", block)
            self.add_module(name, stage)
            if name != "s5":
                self.add_module(f"{name}_fuse", Fuse(fast_out, cfg.fusion_ratio, cfg.fusion_kernel, cfg.alpha, eps, folded))
                slow_in = slow_out + fast_out * cfg.fusion_ratio
            fast_in = fast_out
        self.head = Head((slow_w * 32, fast_w * 32), cfg.num_classes, cfg.head_pools, cfg.dropout, cfg.head_act)

    def slow_frames(self, fast: Tensor) -> Tensor:
        """The official slow pathway: frames linspace(0, T-1, T // alpha), truncated to integers."""
        t = fast.shape[2]
        index = torch.linspace(0, t - 1, t // self.config.alpha).long()
        return fast.index_select(2, index)

    def forward(self, x: Tensor | list[Tensor]) -> Tensor | tuple[Tensor, ...]:
        slow, fast = (x[0], x[1]) if isinstance(x, (list, tuple)) else (self.slow_frames(x), x)
        slow, fast = self.s1.pathway0_stem(slow), self.s1.pathway1_stem(fast)
        slow = self.s1_fuse(slow, fast)
        for name in STAGES:
            stage = getattr(self, name)
            for j in range(self.config.depths[STAGES.index(name)]):
                slow = getattr(stage, f"pathway0_res{j}")(slow)
                fast = getattr(stage, f"pathway1_res{j}")(fast)
            if name != "s5":
                slow = getattr(self, f"{name}_fuse")(slow, fast)
        return self.head(slow, fast)
