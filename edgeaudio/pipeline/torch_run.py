"""Running a PyTorch model of edgeaudio's on numpy inputs, output by output."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def output_names(model: nn.Module, kind: str) -> list[str]:
    """Names of the outputs for `kind` ("logits" or "probabilities"): one per head."""
    heads = model.config.num_classes
    if len(heads) == 1:
        return [kind]
    return [f"{head}_{kind}" for head in ("verb", "noun")]


@torch.no_grad()
def run_model(model: nn.Module, inputs: np.ndarray, output: str, batch: int = 8) -> dict[str, np.ndarray]:
    """Eval-mode outputs of `model` for `inputs` (N, C, T, F): output "logits" or "probs", by output name."""
    previous, was_training = model.output, model.training
    model.eval().set_output(output)
    try:
        chunks: list[list[np.ndarray]] = []
        for start in range(0, len(inputs), batch):
            out = model(torch.from_numpy(np.ascontiguousarray(inputs[start : start + batch])))
            outs = out if isinstance(out, tuple) else (out,)
            chunks.append([o.numpy() for o in outs])
    finally:
        model.set_output(previous).train(was_training)
    names = output_names(model, "logits" if output == "logits" else "probabilities")
    return {name: np.concatenate([c[i] for c in chunks]) for i, name in enumerate(names)}


@torch.no_grad()
def run_module(module: nn.Module, inputs: np.ndarray, batch: int = 8) -> list[np.ndarray]:
    """Outputs of an export-form `module` (tensor in, tensor or tuple of tensors out) for `inputs`, in order."""
    outs: list[list[np.ndarray]] = []
    for start in range(0, len(inputs), batch):
        y = module(torch.from_numpy(np.ascontiguousarray(inputs[start : start + batch])))
        outs.append([t.numpy() for t in (y if isinstance(y, tuple) else (y,))])
    return [np.concatenate([o[i] for o in outs]) for i in range(len(outs[0]))]
