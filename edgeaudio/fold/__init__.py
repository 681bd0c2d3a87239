"""Re-parameterisation: turn a multi-branch training network into its single-branch deploy form.

Each foldable block owns a `fold()` method returning its deploy replacement; `fold_model` walks the module
tree and swaps them in. The arithmetic is in `edgeaudio.fold.kernels`.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


@torch.no_grad()
def fold_model(model: nn.Module) -> nn.Module:
    """Return a folded deep copy of `model`, in eval mode; `model` itself is left untouched.

    Folding always uses batch norm's running statistics, so the copy is put in eval mode first: folding a
    model in training mode is the classic source of "outputs differ after reparam".
    """
    folded = copy.deepcopy(model).eval()
    _swap_foldable_children(folded)
    if isinstance(getattr(folded, "form", None), str):
        folded.form = "folded"
    return folded.eval()


def _swap_foldable_children(module: nn.Module) -> None:
    for name, child in list(module.named_children()):
        if callable(getattr(child, "fold", None)):
            setattr(module, name, child.fold())
        else:
            _swap_foldable_children(child)
