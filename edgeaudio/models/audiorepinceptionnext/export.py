"""AudioRepInceptionNeXt as it is exported: the same arithmetic, written the way converters handle best.

Two rewrites, both exact, both proven again by the parity chain after every conversion:
- The stem's max pool pads with -inf; after the ReLU every value is >= 0, so padding with 0 gives the same
  maximum. A zero pad converts to a plain PAD, where -inf padding becomes PADV2(-FLT_MAX), which wrecks int8
  calibration (the activation range explodes).
- When the head's average pool covers the whole final map (a fixed-size input), pool + permute + linear +
  softmax + mean over one position is mean over (time, frequency) + linear + softmax: no TRANSPOSE in the graph.
"""

from __future__ import annotations

from torch import nn

from edgeaudio.models.audiorepinceptionnext.network import AudioRepInceptionNeXt
from edgeaudio.models.export_rewrites import GlobalHead, ZeroPadMaxPool


def exportable(model: AudioRepInceptionNeXt, output: str = "probs") -> nn.Module:
    """A copy of `model` (any form; normally folded) in eval mode, rewritten for conversion, returning
    `output` ("probs" or "logits")."""
    import copy

    module = copy.deepcopy(model).eval().set_output(output)
    stem = module.s1.pathway0_stem
    stem.pool_layer = ZeroPadMaxPool()
    if model.config.final_map() == model.config.head_pool:
        module.head = GlobalHead(module.head, output)
    return module
