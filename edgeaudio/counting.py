"""Parameters and multiply-accumulates of a PyTorch model, counted on a real forward pass.

Convolutions and linear layers are counted by torch.utils.flop_counter (one MAC = 2 of its FLOPs). Eval-mode
batch norm is counted separately, at 2 operations per output element (scale and shift), which is the rule of
fvcore's counter: conv + linear MACs plus that term is the "GFLOPs" the official AudioRepInceptionNeXt tooling
reports. Pooling, ReLU, additions and softmax are not counted by either.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

COUNTING_RULE = (
    "MACs: conv + linear multiply-accumulates at batch 1 (torch.utils.flop_counter, FLOPs/2); "
    "fvcore total adds eval batch-norm at 2 per output element; pooling, ReLU, adds, softmax not counted"
)


@dataclass(frozen=True)
class ModelCounts:
    """Counts of one model form at batch 1."""

    params: int
    macs: int  # conv + linear
    batchnorm_ops: int  # 2 per batch-norm output element
    fvcore_total: int  # macs + batchnorm_ops, the official tooling's figure

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def count_model(model: nn.Module, input_shape: tuple[int, ...]) -> ModelCounts:
    """Count parameters and MACs of `model` (eval mode) on one zero input of `input_shape`."""
    was_training = model.training
    model.eval()
    bn_elements = 0

    def on_bn(_module, _inputs, output):
        nonlocal bn_elements
        bn_elements += output.numel()

    hooks = [m.register_forward_hook(on_bn) for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) or getattr(m, "counts_as_batchnorm", False)]
    try:
        counter = FlopCounterMode(display=False)
        with counter:
            model(torch.zeros(input_shape))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    macs = counter.get_total_flops() // 2
    params = sum(p.numel() for p in model.parameters())
    return ModelCounts(params=params, macs=macs, batchnorm_ops=2 * bn_elements, fvcore_total=macs + 2 * bn_elements)
