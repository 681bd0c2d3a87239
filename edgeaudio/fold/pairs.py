"""Folding conv + batch-norm pairs inside any module: the convs gain a bias, the batch norms become identities.

For networks with no parallel branches to merge (ResNets, Slow-Fast), this is the whole fold; the module's
forward needs no change, because an nn.Identity stands where each batch norm was.
"""

from __future__ import annotations

import copy

from torch import nn

from edgeaudio.fold.kernels import copy_into, fuse_modules


def biased_like(conv: nn.Conv1d | nn.Conv2d) -> nn.Conv1d | nn.Conv2d:
    """A conv of the same type and geometry as `conv`, with a bias."""
    return type(conv)(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                     conv.dilation, conv.groups, bias=True)


def fold_pairs(module: nn.Module, pairs: list[tuple[str, str]]) -> nn.Module:
    """A copy of `module` with each (conv attribute, batch-norm attribute) pair folded into one biased conv."""
    folded = copy.deepcopy(module)
    for conv_name, bn_name in pairs:
        conv, bn = getattr(module, conv_name), getattr(module, bn_name)
        if isinstance(bn, nn.Identity):  # already folded
            continue
        setattr(folded, conv_name, copy_into(biased_like(conv), fuse_modules(conv, bn)))
        setattr(folded, bn_name, nn.Identity())
    return folded
