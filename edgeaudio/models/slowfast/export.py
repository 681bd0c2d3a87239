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

from torch import nn

from edgeaudio.models.export_rewrites import GlobalHead, ZeroPadMaxPool
from edgeaudio.models.slowfast.network import SlowFast


def exportable(model: SlowFast, output: str = "probs") -> nn.Module:
    """A copy of `model` (any form; normally folded) in eval mode, rewritten for conversion, returning
    `output` ("probs" or "logits") for a (N, 1, frames, mels) input."""
    module = copy.deepcopy(model).eval().set_output(output)
    for stem in (module.s1.pathway0_stem, module.s1.pathway1_stem):
        stem.pool_layer = ZeroPadMaxPool()
    if model.config.final_maps() == model.config.head_pools:
        module.head = GlobalHead(module.head, output)
    return module
