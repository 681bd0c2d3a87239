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
    steps_per_epoch = max(1, int(np.ceil(len(x_all) / batch)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps_per_epoch)
    model.set_output("logits")
    loss_value, correct, seen = float("nan"), 0, 0
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x_all), generator=generator)
        correct = seen = 0
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            x, y = _mask(x_all[idx], generator), y_all[idx]
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=0.0)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_value = float(loss.detach())
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
        progress(f"epoch {epoch + 1}/{epochs}: loss {loss_value:.3f}, train accuracy {correct / seen:.1%}")
    model.eval().set_output("probs")
    return TrainReport(epochs, epochs * steps_per_epoch, loss_value, correct / max(seen, 1))
