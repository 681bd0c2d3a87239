"""Exact rewrites that make PyTorch graphs convert well, shared by every architecture's export form."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class ZeroPadMaxPool(nn.Module):
    """max_pool2d(3, stride 2, padding 1) for inputs >= 0 (after a ReLU), as an explicit zero pad and an
    unpadded pool: equal results, and a plain PAD instead of the PADV2(-FLT_MAX) that onnx2tf emits for -inf
    padding, which blows up int8 calibration ranges (scale ~1e36, then XNNPACK refuses the model)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(F.pad(x, (1, 1, 1, 1)), kernel_size=3, stride=2)
