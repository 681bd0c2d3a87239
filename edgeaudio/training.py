"""A compact training recipe for small models on small data: enough to give exported models realistic,
peaked outputs and activation statistics (the demo, the int8 tests). Not a training framework.

AdamW with a one-cycle learning rate and time/frequency masking (SpecAugment-lite). No label smoothing: it
caps confidence, and near-tied outputs make int8 top-1 agreement a coin toss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class TrainReport:
    epochs: int
    steps: int
    final_loss: float
    train_accuracy: float


def _mask(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Zero one random band of frames and one of mel bins per sample (to the batch minimum, i.e. silence)."""
    n, _, frames, mels = x.shape
    out = x.clone()
    floor = x.amin()
    for i in range(n):
        t = int(torch.randint(0, max(frames // 8, 1), (1,), generator=generator))
        t0 = int(torch.randint(0, frames - t + 1, (1,), generator=generator))
        f = int(torch.randint(0, max(mels // 8, 1), (1,), generator=generator))
        f0 = int(torch.randint(0, mels - f + 1, (1,), generator=generator))
        out[i, :, t0 : t0 + t] = floor
        out[i, :, :, f0 : f0 + f] = floor
    return out


def fit(
    model: nn.Module,
    n: int,
    step: Callable[[torch.Tensor], torch.Tensor],
    epochs: int,
    batch: int,
    lr: float,
    generator: torch.Generator,
    weight_decay: float = 0.05,
    parameters=None,
    end_of_epoch: Callable[[int, float], None] = lambda _epoch, _loss: None,
) -> float:
    """The loop every recipe here shares: AdamW over `parameters` (default: all of the model's) with a one-cycle
    rate, `epochs` passes over `n` samples in batches shuffled by `generator`; `step(indices)` returns the loss of
    one batch (the recipe's own inputs, augmentation and loss). Leaves the model in training mode; returns the
    last batch's loss."""
    optimizer = torch.optim.AdamW(model.parameters() if parameters is None else parameters, lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * max(1, -(-n // batch)))
    loss_value = float("nan")
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch):
            loss = step(order[start : start + batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_value = float(loss.detach())
        end_of_epoch(epoch, loss_value)
    return loss_value


def train_classifier(
    model: nn.Module,
    inputs: np.ndarray,
    labels: np.ndarray,
    epochs: int = 20,
    batch: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
    progress: Callable[[str], None] = lambda _m: None,
) -> TrainReport:
    """Train `model` (logits from `set_output("logits")`, single head) on (N, C, T, F) inputs in place."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x_all = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
    y_all = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    counts = {"correct": 0, "seen": 0}

    def step(idx: torch.Tensor) -> torch.Tensor:
        x, y = _mask(x_all[idx], generator), y_all[idx]
        logits = model(x)
        counts["correct"] += int((logits.argmax(1) == y).sum())
        counts["seen"] += len(y)
        return F.cross_entropy(logits, y, label_smoothing=0.0)

    def end_of_epoch(epoch: int, loss: float) -> None:
        progress(f"epoch {epoch + 1}/{epochs}: loss {loss:.3f}, train accuracy {counts['correct'] / counts['seen']:.1%}")
        if epoch + 1 < epochs:  # the report keeps the last epoch's accuracy
            counts.update(correct=0, seen=0)

    model.set_output("logits")
    loss_value = fit(model, len(x_all), step, epochs, batch, lr, generator, end_of_epoch=end_of_epoch)
    model.eval().set_output("probs")
    return TrainReport(epochs, epochs * max(1, -(-len(x_all) // batch)), loss_value, counts["correct"] / max(counts["seen"], 1))
