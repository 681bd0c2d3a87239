"""Training the LEAN-style model's trainable parts on multi-label clips (binary cross-entropy).

With YAMNet frozen (the default), its tokens do not change during training, so they are computed once per clip
and cached: an epoch then costs the wave encoder, the attention and the head only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from edgeaudio.models.lean.network import LEANStyle


@dataclass
class LEANTrainReport:
    epochs: int
    final_loss: float


@torch.no_grad()
def _yamnet_tokens(model: LEANStyle, waves: torch.Tensor, batch: int) -> torch.Tensor:
    model.yamnet.eval()
    return torch.cat([model.yamnet_tokens(waves[s : s + batch]) for s in range(0, len(waves), batch)])


def train_lean(
    model: LEANStyle,
    waves: np.ndarray,
    targets: np.ndarray,
    epochs: int = 20,
    batch: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
    progress: Callable[[str], None] = lambda _m: None,
) -> LEANTrainReport:
    """Train `model` in place on (N, samples) waveforms and (N, classes) multi-hot targets."""
    if not model.config.freeze_yamnet:
        raise ValueError("train_lean caches YAMNet tokens, so YAMNet must be frozen (freeze_yamnet=True)")
    from edgeaudio.training import fit

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x_all = torch.from_numpy(np.ascontiguousarray(waves, dtype=np.float32))
    y_all = torch.from_numpy(np.asarray(targets, dtype=np.float32))
    tokens_all = _yamnet_tokens(model, x_all, batch)

    def step(idx: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(model.forward_with_tokens(x_all[idx], tokens_all[idx]), y_all[idx])

    model.set_output("logits")
    loss_value = fit(model, len(x_all), step, epochs, batch, lr, generator, weight_decay=0.01,
                     parameters=[p for p in model.parameters() if p.requires_grad],
                     end_of_epoch=lambda epoch, loss: progress(f"epoch {epoch + 1}/{epochs}: loss {loss:.4f}"))
    model.eval().set_output("probs")
    return LEANTrainReport(epochs, loss_value)
