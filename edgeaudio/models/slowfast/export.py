"""Slow-Fast as it is exported: the same arithmetic, written the way converters handle best.

Two rewrites, both exact, both proven again by the parity chain after every conversion:
- Both stems' max pools pad with zeros instead of -inf (exact after their ReLU; see export_rewrites).
- When each pathway's head pool covers its whole final map (the official rule on a fixed-size input), pool,
  concatenation, permute, projection, activation and the mean over one position are a mean over (time,
  frequency) per pathway, concatenation, projection(s) and activation: no permute, so no TRANSPOSE, and no
  pooled 1x1 map for onnx2tf to slice.
The slow pathway's frames are still gathered inside the graph (index_select of the official linspace frames),
which stays exact at every precision: a gather copies values.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from edgeaudio.models.export_rewrites import ZeroPadMaxPool
from edgeaudio.models.slowfast.network import SlowFast


class _GlobalHead(nn.Module):
    """Head for pools that cover each pathway's whole map: (slow, fast) maps in, per-head outputs out."""

    def __init__(self, head: nn.Module, output: str):
        super().__init__()
        self.projections = nn.ModuleList(getattr(head, name) for name in head.projection_names)
        self.softmax = isinstance(head.act, nn.Softmax)
        self.output = output

    def forward(self, slow: Tensor, fast: Tensor) -> Tensor | tuple[Tensor, ...]:
        pooled = torch.cat([slow.mean(dim=(2, 3)), fast.mean(dim=(2, 3))], dim=1)
        outs = [proj(pooled) for proj in self.projections]
        if self.output == "probs":
            outs = [torch.softmax(o, dim=-1) if self.softmax else torch.sigmoid(o) for o in outs]
        return outs[0] if len(outs) == 1 else tuple(outs)


def exportable(model: SlowFast, output: str = "probs") -> nn.Module:
    """A copy of `model` (any form; normally folded) in eval mode, rewritten for conversion, returning
    `output` ("probs" or "logits") for a (N, 1, frames, mels) input."""
    module = copy.deepcopy(model).eval().set_output(output)
    for stem in (module.s1.pathway0_stem, module.s1.pathway1_stem):
        stem.pool_layer = ZeroPadMaxPool()
    if model.config.final_maps() == model.config.head_pools:
        module.head = _GlobalHead(module.head, output)
    return module
