"""Re-parameterisation: turn a multi-branch training network into its single-branch deploy form.

Each foldable block owns a `fold()` method returning its deploy replacement; `fold_model` walks the module
tree and swaps them in. The arithmetic is in `edgeaudio.fold.kernels`.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import sys
from typing import Iterator

import torch
from torch import nn


@torch.no_grad()
def fold_model(model: nn.Module) -> nn.Module:
    """Return a folded deep copy of `model`, in eval mode; `model` itself is left untouched.

    Folding always uses batch norm's running statistics, so the copy is put in eval mode first: folding a
    model in training mode is the classic source of "outputs differ after reparam". Folded modules keep the
    dtype and device of the block they replace, so a float64 copy folds in float64 (the fold's own error,
    apart from float32 rounding).
    """
    folded = copy.deepcopy(model).eval()
    _swap_foldable_children(folded)
    if isinstance(getattr(folded, "form", None), str):
        folded.form = "folded"
    return folded.eval()


def _swap_foldable_children(module: nn.Module) -> None:
    for name, child in list(module.named_children()):
        if callable(getattr(child, "fold", None)):
            with _creating_like(child):
                setattr(module, name, child.fold())
        else:
            _swap_foldable_children(child)


@contextlib.contextmanager
def _creating_like(block: nn.Module) -> Iterator[None]:
    """New modules (a block's fold() builds its replacement from scratch) get `block`'s float dtype and device."""
    like = next((t for t in itertools.chain(block.parameters(), block.buffers()) if t.is_floating_point()), None)
    if like is None:
        yield
        return
    previous = torch.get_default_dtype()
    torch.set_default_dtype(like.dtype)
    try:
        with torch.device(like.device):
            yield
    finally:
        torch.set_default_dtype(previous)


class _FoldPackage(type(contextlib)):
    """This package, callable: `edgeaudio.fold(checkpoint, out)` is the Python API's fold (edgeaudio.api.fold),
    while `from edgeaudio.fold import fold_model` stays what it was. A package and a function of one name cannot
    otherwise live side by side: importing the package rebinds the name."""

    def __call__(self, *args, **kwargs):
        from edgeaudio.api import fold

        return fold(*args, **kwargs)


sys.modules[__name__].__class__ = _FoldPackage
