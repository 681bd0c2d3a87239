"""The embedded default job: a checkpoint in the official format, folded, with parity and counts shown.

Nothing comes from the user: the checkpoint is AudioRepInceptionNeXt in the VGG-Sound configuration with
seeded weights and non-trivial batch-norm statistics (so the fold has something to prove), written exactly as
the official `save_checkpoint` writes it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from edgeaudio.checkpoint import save_official
from edgeaudio.models import get_spec
from edgeaudio.models.audiorepinceptionnext.blocks import randomize_batchnorm
from edgeaudio.pipeline.fold import FoldResult, fold_checkpoint
from edgeaudio.pipeline.info import ModelInfo, info_for_checkpoint


@dataclass
class DemoResult:
    checkpoint: str
    deploy: str
    info: ModelInfo
    fold: FoldResult

    def to_dict(self) -> dict:
        return {"checkpoint": self.checkpoint, "deploy": self.deploy, "info": self.info.to_dict(), "fold": self.fold.to_dict()}


def default_checkpoint(path: str | os.PathLike, preset: str = "vggsound", seed: int = 0) -> Path:
    """Write a seeded AudioRepInceptionNeXt checkpoint of `preset` in the official format."""
    spec = get_spec("audiorepinceptionnext")
    torch.manual_seed(seed)
    model = spec.build(spec.config(preset), "training").eval()
    randomize_batchnorm(model, torch.Generator().manual_seed(seed))
    return save_official(model, path, epoch=0)


def run_demo(out_dir: str | os.PathLike, progress: Callable[[str], None] = lambda _msg: None) -> DemoResult:
    """Build the default checkpoint in `out_dir`, fold it, measure parity and count both forms."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoint_epoch_00000.pyth"
    progress(f"writing the default checkpoint (VGG-Sound config, official format) to {ckpt}")
    default_checkpoint(ckpt)
    deploy = out / "deploy.pt"
    progress(f"folding it into {deploy} and measuring parity")
    fold = fold_checkpoint(ckpt, deploy)
    progress("counting parameters and MACs of each form")
    info = info_for_checkpoint(ckpt)
    return DemoResult(str(ckpt), str(deploy), info, fold)
