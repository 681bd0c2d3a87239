"""AudioRepInceptionNeXt's building blocks, with the official state-dict names, in every form a checkpoint has.

Forms of a block:
- "training": three parallel depthwise branches per axis, each with its own batch norm (a, a_medium, a_small
  and b, b_medium, b_small), summed with the identity.
- "merged": the training branches AND the official `a_reparam` / `b_reparam` convs; the forward uses the
  reparameterised convs plus the identity, as the official merge mode does.
- "inference": the official deploy form: only `a_reparam` / `b_reparam` (biased), identity still added, batch
  norms after a_head, c, d and the projection shortcut kept.
- "folded": edgeaudio's deploy form: every batch norm folded into its conv and the identity folded into the
  centre tap of `a_reparam` / `b_reparam`, so each cascade is one biased depthwise conv and a ReLU.

Each block folds itself (`fold()`), returning a new module in the "folded" form; the arithmetic lives in
edgeaudio.fold.kernels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from edgeaudio.fold.kernels import (
    KernelBias,
    copy_into,
    fuse_modules,
    identity_kernel,
    merge_parallel,
)
from edgeaudio.models.common import project

FORMS = ("training", "merged", "inference", "folded")
BRANCH_SUFFIXES = ("", "_medium", "_small")  # official names of the large, medium and small branch


@dataclass(frozen=True)
class BlockShape:
    """Everything that sizes one residual block."""

    dim_in: int
    dim: int
    dim_inner: int
    stride: tuple[int, int]
    time_kernels: tuple[int, int, int]
    freq_kernels: tuple[int, int, int]
    eps: float


def _bn(channels: int, eps: float) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=eps, momentum=0.1)


def _pointwise(c_in: int, c_out: int, stride: tuple[int, int] = (1, 1), bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel_size=1, stride=stride, padding=0, bias=bias)


def _depthwise(channels: int, kernel: tuple[int, int], bias: bool) -> nn.Conv2d:
    padding = (kernel[0] // 2, kernel[1] // 2)
    return nn.Conv2d(channels, channels, kernel, stride=1, padding=padding, groups=channels, bias=bias)


class Stem(nn.Module):
    """Conv (kernel time x freq, stride 2), BN, ReLU, max pool 3x3 stride 2. Official name: s1.pathway0_stem."""

    def __init__(self, in_channels: int, width: int, kernel: tuple[int, int], eps: float, folded: bool = False):
        super().__init__()
        self.args = (in_channels, width, tuple(kernel), eps)
        self.folded = folded
        padding = (kernel[0] // 2, kernel[1] // 2)
        self.conv = nn.Conv2d(in_channels, width, tuple(kernel), stride=2, padding=padding, bias=folded)
        if not folded:
            self.bn = _bn(width, eps)
        self.relu = nn.ReLU()
        self.pool_layer = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        if not self.folded:
            x = self.bn(x)
        return self.pool_layer(self.relu(x))

    def fold(self) -> "Stem":
        folded = Stem(*self.args, folded=True)
        if self.folded:
            folded.load_state_dict(self.state_dict())
            return folded
        copy_into(folded.conv, fuse_modules(self.conv, self.bn))
        return folded


class RepInceptionTransform(nn.Module):
    """The residual branch (official `branch2`): a_head 1x1, time cascade, frequency cascade, 1x1 MLP."""

    def __init__(self, shape: BlockShape, form: str = "training"):
        super().__init__()
        if form not in FORMS:
            raise ValueError(f"unknown block form {form!r}; expected one of {FORMS}")
        self.shape, self.form = shape, form
        dim_in, dim, dim_inner, eps = shape.dim_in, shape.dim, shape.dim_inner, shape.eps
        self.dim = dim
        self.time_kernels, self.freq_kernels = shape.time_kernels, shape.freq_kernels
        folded = form == "folded"
        has_branches = form in ("training", "merged")

        self.a_head = _pointwise(dim_in, dim, shape.stride, bias=folded)
        if not folded:
            self.a_head_bn = _bn(dim, eps)
        self.a_head_relu = nn.ReLU()
        for axis, kernels in (("a", self.time_kernels), ("b", self.freq_kernels)):
            if has_branches:
                for suffix, k in zip(BRANCH_SUFFIXES, kernels):
                    setattr(self, f"{axis}{suffix}", _depthwise(dim, self._kernel(axis, k), bias=False))
                    setattr(self, f"{axis}_bn{suffix}", _bn(dim, eps))
            if form != "training":
                setattr(self, f"{axis}_reparam", _depthwise(dim, self._kernel(axis, kernels[0]), bias=True))
        self.a_relu = nn.ReLU()
        self.b_relu = nn.ReLU()
        self.c = _pointwise(dim, dim_inner, bias=folded)
        if not folded:
            self.c_bn = _bn(dim_inner, eps)
        self.c_relu = nn.ReLU()
        self.d = _pointwise(dim_inner, dim, bias=folded)
        if not folded:
            self.d_bn = _bn(dim, eps)

    @staticmethod
    def _kernel(axis: str, taps: int) -> tuple[int, int]:
        return (taps, 1) if axis == "a" else (1, taps)

    def forward(self, x: Tensor) -> Tensor:
        x = self.a_head(x)
        if self.form != "folded":
            x = self.a_head_bn(x)
        x = self.a_head_relu(x)
        x = self.a_relu(self._cascade(x, "a"))
        x = self.b_relu(self._cascade(x, "b"))
        x = self.c(x)
        if self.form != "folded":
            x = self.c_bn(x)
        x = self.d(self.c_relu(x))
        return x if self.form == "folded" else self.d_bn(x)

    def _cascade(self, x: Tensor, axis: str) -> Tensor:
        if self.form == "folded":
            return getattr(self, f"{axis}_reparam")(x)  # identity already in the kernel centre
        if self.form == "training":
            out = x
            for suffix in BRANCH_SUFFIXES:
                out = out + getattr(self, f"{axis}_bn{suffix}")(getattr(self, f"{axis}{suffix}")(x))
            return out
        return getattr(self, f"{axis}_reparam")(x) + x

    # -- folding --------------------------------------------------------------------------------------
    def branches_equivalent(self, axis: str) -> KernelBias:
        """Kernel and bias of the three BN-folded branches of `axis` ("a" time, "b" frequency), merged.

        Identity excluded: this is what the official code stores in `a_reparam` / `b_reparam`.
        """
        kernels = self.time_kernels if axis == "a" else self.freq_kernels
        size = self._kernel(axis, kernels[0])
        branches = [
            fuse_modules(getattr(self, f"{axis}{suffix}"), getattr(self, f"{axis}_bn{suffix}"))
            for suffix in BRANCH_SUFFIXES
        ]
        return merge_parallel(branches, size)

    def cascade_equivalent(self, axis: str) -> KernelBias:
        """Kernel and bias of one depthwise conv equal to the whole cascade of `axis`, identity included."""
        if self.form == "folded":
            conv = getattr(self, f"{axis}_reparam")
            return conv.weight, conv.bias
        if self.form == "training":
            weight, bias = self.branches_equivalent(axis)
        else:  # merged and inference forms compute with the stored reparameterised conv
            conv = getattr(self, f"{axis}_reparam")
            weight, bias = conv.weight, conv.bias
        return weight + identity_kernel(self.dim, tuple(weight.shape[-2:]), weight), bias

    def reparam_drift(self) -> float:
        """Merged form only: max |stored a_reparam/b_reparam - fold of the stored branches|."""
        if self.form != "merged":
            return 0.0
        drift = 0.0
        for axis in ("a", "b"):
            weight, bias = self.branches_equivalent(axis)
            stored = getattr(self, f"{axis}_reparam")
            drift = max(drift, (stored.weight - weight).abs().max().item(), (stored.bias - bias).abs().max().item())
        return drift

    def equalize(self) -> None:
        """Cross-layer equalization of a folded branch (edgeaudio.fold.equalize): a_head's channels with c's inputs
        through both depthwise cascades, and c's channels with d's inputs. The function computed is unchanged."""
        from edgeaudio.fold.equalize import equalize_pair

        if self.form != "folded":
            raise ValueError("equalize a folded block: fold the model first")
        equalize_pair(self.a_head, self.c, (self.a_reparam, self.b_reparam))
        equalize_pair(self.c, self.d)

    def fold(self) -> "RepInceptionTransform":
        folded = RepInceptionTransform(self.shape, form="folded")
        if self.form == "folded":
            folded.load_state_dict(self.state_dict())
            return folded
        copy_into(folded.a_head, fuse_modules(self.a_head, self.a_head_bn))
        copy_into(folded.a_reparam, self.cascade_equivalent("a"))
        copy_into(folded.b_reparam, self.cascade_equivalent("b"))
        copy_into(folded.c, fuse_modules(self.c, self.c_bn))
        copy_into(folded.d, fuse_modules(self.d, self.d_bn))
        return folded


class RepInceptionBlock(nn.Module):
    """Residual block: shortcut (identity, or official `branch1` 1x1 conv + `branch1_bn`) + `branch2`, ReLU."""

    def __init__(self, shape: BlockShape, form: str = "training"):
        super().__init__()
        self.shape, self.form = shape, form
        folded = form == "folded"
        self.has_projection = shape.dim_in != shape.dim or shape.stride != (1, 1)
        if self.has_projection:
            self.branch1 = _pointwise(shape.dim_in, shape.dim, shape.stride, bias=folded)
            if not folded:
                self.branch1_bn = _bn(shape.dim, shape.eps)
        self.branch2 = RepInceptionTransform(shape, form=form)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        if self.has_projection:
            shortcut = self.branch1(x)
            if self.form != "folded":
                shortcut = self.branch1_bn(shortcut)
        else:
            shortcut = x
        return self.relu(shortcut + self.branch2(x))

    def fold(self) -> "RepInceptionBlock":
        folded = RepInceptionBlock(self.shape, form="folded")
        if self.has_projection:
            if self.form == "folded":
                folded.branch1.load_state_dict(self.branch1.state_dict())
            else:
                copy_into(folded.branch1, fuse_modules(self.branch1, self.branch1_bn))
        folded.branch2 = self.branch2.fold()
        return folded


class Head(nn.Module):
    """Average pool, dropout, linear projection(s); in eval mode the official softmax-then-mean over positions.

    `output` selects what the head returns outside training: "probs" (official) or "logits" (pre-activation,
    averaged over positions; equal to the official logits when the pool leaves a single position).
    """

    def __init__(self, dim: int, num_classes: tuple[int, ...], pool: tuple[int, int], dropout: float, act: str):
        super().__init__()
        self.pathway0_avgpool = nn.AvgPool2d(tuple(pool), stride=1)
        if dropout > 0.0:
            self.dropout = nn.Dropout(dropout)
        if len(num_classes) == 1:
            self.projection = nn.Linear(dim, num_classes[0], bias=True)
            self.projection_names = ("projection",)
        else:
            self.projection_verb = nn.Linear(dim, num_classes[0], bias=True)
            self.projection_noun = nn.Linear(dim, num_classes[1], bias=True)
            self.projection_names = ("projection_verb", "projection_noun")
        self.act = nn.Softmax(dim=3) if act == "softmax" else nn.Sigmoid()
        self.output = "probs"

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, ...]:
        x = self.pathway0_avgpool(x).permute(0, 2, 3, 1)  # (N, C, T, F) -> (N, T, F, C)
        if hasattr(self, "dropout"):
            x = self.dropout(x)
        return project(self, x)


class Stage(nn.Module):
    """A sequence of blocks named pathway0_res0, pathway0_res1, ... (official stage layout)."""

    def __init__(self, blocks: list[nn.Module]):
        super().__init__()
        self.num_blocks = len(blocks)
        for i, block in enumerate(blocks):
            self.add_module(f"pathway0_res{i}", block)

    def forward(self, x: Tensor) -> Tensor:
        for i in range(self.num_blocks):
            x = getattr(self, f"pathway0_res{i}")(x)
        return x


class StemStage(nn.Module):
    """The official `s1` container holding `pathway0_stem`."""

    def __init__(self, stem: Stem):
        super().__init__()
        self.pathway0_stem = stem

    def forward(self, x: Tensor) -> Tensor:
        return self.pathway0_stem(x)


@torch.no_grad()
def randomize_batchnorm(module: nn.Module, generator: torch.Generator) -> None:
    """Give every batch norm non-trivial statistics and affine terms (fresh ones are identities).

    Used to make fold tests and demos meaningful: a freshly built network has mean 0, var 1, gamma 1 (and
    the official zero-initialised d_bn), which would hide fold mistakes.
    """
    for bn in module.modules():
        if isinstance(bn, nn.BatchNorm2d):
            n = bn.num_features
            bn.running_mean.copy_(torch.randn(n, generator=generator) * 0.2)
            bn.running_var.copy_(torch.rand(n, generator=generator) * 1.5 + 0.25)
            bn.weight.copy_(torch.rand(n, generator=generator) * 0.8 + 0.4)
            bn.bias.copy_(torch.randn(n, generator=generator) * 0.2)
