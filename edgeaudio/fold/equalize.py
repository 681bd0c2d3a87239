"""Cross-layer equalization (Nagel et al., "Data-Free Quantization", 2019; what Qualcomm's AIMET applies before
int8): a data-free weight transform of a folded network that computes exactly the same function.

ReLU is positively homogeneous, so scaling a channel's output of one layer by 1/s and the matching input of the
next by s changes nothing. Choosing s_i = sqrt(r1_i / r2_i) (r1: layer 1's range for output channel i, r2: layer
2's for input channel i) leaves both with range sqrt(r1_i r2_i): no channel of either layer wastes the 8-bit grid
of a per-tensor scale on another's outliers. Depthwise convs between the two pass a channel's scale through
(their biases scale with it, their kernels are per channel). Each folded block owns an `equalize()` that says
which layers pair; `equalize_model` walks the tree. Iterated, since a layer can sit in two pairs.

Measured, not assumed useful: with int8 weights per output channel (TFLite, ONNX Runtime, ExecuTorch as edgeaudio
exports them) the weight-range benefit is gone by construction; what remains is the per-tensor activation grid
(benchmarks/results/calibration.md).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

ROUNDS = 4
_SMALL = 1e-12


def output_ranges(conv: nn.Conv2d) -> Tensor:
    """Per output channel, max |weight| (over its inputs and taps)."""
    return conv.weight.detach().abs().flatten(1).amax(dim=1)


def input_ranges(conv: nn.Conv2d) -> Tensor:
    """Per input channel, max |weight| (over outputs and taps) of a dense (groups=1) conv."""
    return conv.weight.detach().abs().transpose(0, 1).flatten(1).amax(dim=1)


@torch.no_grad()
def equalize_pair(first: nn.Conv2d, second: nn.Conv2d, between: tuple[nn.Conv2d, ...] = ()) -> Tensor:
    """Equalize `first`'s output channels with `second`'s input channels, through per-channel (depthwise) convs
    `between` with ReLUs around them; returns the scales used (1 where a channel is dead in either layer)."""
    r1, r2 = output_ranges(first), input_ranges(second)
    alive = (r1 > _SMALL) & (r2 > _SMALL)
    scale = torch.where(alive, torch.sqrt(r1.clamp_min(_SMALL) / r2.clamp_min(_SMALL)), torch.ones_like(r1))
    first.weight.div_(scale.reshape(-1, *([1] * (first.weight.dim() - 1))))
    if first.bias is not None:
        first.bias.div_(scale)
    for conv in between:  # y_i = w_i * x_i + b_i: a channel scaled by 1/s stays scaled by 1/s when b_i is too
        if conv.bias is not None:
            conv.bias.div_(scale)
    second.weight.mul_(scale.reshape(1, -1, *([1] * (second.weight.dim() - 2))))
    return scale


@torch.no_grad()
def equalize_model(model: nn.Module, rounds: int = ROUNDS) -> nn.Module:
    """Equalize every folded block of `model` in place (each block's own `equalize()`), `rounds` times; returns it."""
    blocks = [m for m in model.modules() if callable(getattr(m, "equalize", None))]
    if not blocks:
        raise ValueError("nothing to equalize: no folded block knows its layer pairs (fold the model first)")
    for _ in range(rounds):
        for block in blocks:
            block.equalize()
    return model
