"""Exact rewrites that make PyTorch graphs convert well, shared by every architecture's export form."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ZeroPadMaxPool(nn.Module):
    """max_pool2d(3, stride 2, padding 1) for inputs >= 0 (after a ReLU), as an explicit zero pad and an
    unpadded pool: equal results, and a plain PAD instead of the PADV2(-FLT_MAX) that onnx2tf emits for -inf
    padding, which blows up int8 calibration ranges (scale ~1e36, then XNNPACK refuses the model)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(F.pad(x, (1, 1, 1, 1)), kernel_size=3, stride=2)


class GlobalHead(nn.Module):
    """A PySlowFast head whose average pools cover their whole maps, written without pool or permute: the mean
    of each pathway's map over (T, F), concatenated, then each projection and (for "probs") the activation.
    Equal to the official head for a fixed-size input, with no TRANSPOSE for the converter to carry."""

    def __init__(self, head: nn.Module, output: str):
        super().__init__()
        # under the official names (head.projection, head.projection_verb...), so the exported graph names its layers
        # as the checkpoint's keys do
        self.projection_names = tuple(head.projection_names)
        for name in self.projection_names:
            setattr(self, name, getattr(head, name))
        self.softmax = isinstance(head.act, nn.Softmax)
        self.output = output

    def forward(self, *maps: Tensor) -> Tensor | tuple[Tensor, ...]:
        pooled = torch.cat([m.mean(dim=(2, 3)) for m in maps], dim=1)
        outs = [getattr(self, name)(pooled) for name in self.projection_names]
        if self.output == "probs":
            outs = [torch.softmax(o, dim=-1) if self.softmax else torch.sigmoid(o) for o in outs]
        return outs[0] if len(outs) == 1 else tuple(outs)
