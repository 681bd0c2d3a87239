"""Fold a checkpoint into its deploy form and prove the folded model computes what the original did."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from torch import nn

from edgeaudio.atomic import check_output_file
from edgeaudio.checkpoint import LoadedCheckpoint, load_checkpoint, save_edgeaudio
from edgeaudio.errors import ParityError
from edgeaudio.fold import fold_model
from edgeaudio.parity import Bounds, ParityCheck, check
from edgeaudio.pipeline.gates import FLOAT_BOUNDS
from edgeaudio.pipeline.torch_run import output_names, run_model
from edgeaudio.synthetic import synthetic_inputs



@dataclass
class FoldResult:
    """What `fold_checkpoint` did: the source it read, the parity it measured, the file it wrote."""

    source: str
    source_sha256: str
    found: str
    warnings: list[str]
    parity: ParityCheck
    output: str | None
    seconds: float
    params_before: int
    params_after: int

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "source_sha256": self.source_sha256,
            "found": self.found,
            "warnings": list(self.warnings),
            "parity": self.parity.to_dict(),
            "output": self.output,
            "seconds": round(self.seconds, 3),
            "params_before": self.params_before,
            "params_after": self.params_after,
        }


def verify_fold(original: nn.Module, folded: nn.Module, inputs: np.ndarray) -> ParityCheck:
    """Compare folded against original on `inputs` (N, C, T, F): logits (max rel <= 1e-5) and
    probabilities (max abs <= 1e-5)."""
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    bounds: dict[str, Bounds] = {}
    for output, kind in (("logits", "logits"), ("probs", "probabilities")):
        ref = run_model(original, inputs, output)
        cand = run_model(folded, inputs, output)
        for name in output_names(original, kind):
            pairs[name] = (ref[name], cand[name])
            bounds[name] = FLOAT_BOUNDS[kind]
    return check("folded", "original", pairs, bounds)


def fold_loaded(loaded: LoadedCheckpoint, samples: int = 8, seed: int = 0) -> tuple[nn.Module, ParityCheck]:
    """Fold a loaded checkpoint's model and measure parity on inputs shaped like real ones (log-mel or waveform)."""
    folded = fold_model(loaded.model)
    inputs = synthetic_inputs(samples, tuple(loaded.config.input_shape[1:]), seed=seed)
    return folded, verify_fold(loaded.model, folded, inputs)


def fold_checkpoint(
    path: str | os.PathLike,
    output: str | os.PathLike | None = None,
    samples: int = 8,
    seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
) -> FoldResult:
    """Load `path`, fold it, verify parity, and (if `output`) write the deploy checkpoint atomically.

    Raises ParityError, writing nothing, when the folded model breaks the bounds.
    """
    start = time.perf_counter()
    if output is not None:
        check_output_file(output)
    loaded = load_checkpoint(path, overrides=overrides)
    folded, parity = fold_loaded(loaded, samples, seed)
    if not parity.passed:
        raise ParityError(f"{path}: folded model disagrees with the original: " + "; ".join(parity.failures))
    if output is not None:
        extra = {
            "source": {"file": Path(path).name, "sha256": loaded.sha256, "form": loaded.form, "container": loaded.container},
            "parity": parity.to_dict(),
        }
        # what the source says about its inputs and outputs holds for the folded model too (a Keras YAMNet brings
        # its front end; an edgeaudio file may carry labels)
        extra.update({key: loaded.meta[key] for key in ("frontend", "labels") if loaded.meta.get(key)})
        save_edgeaudio(folded, output, extra)
    return FoldResult(
        source=str(path),
        source_sha256=loaded.sha256,
        found=loaded.describe(),
        warnings=list(loaded.warnings),
        parity=parity,
        output=None if output is None else str(output),
        seconds=time.perf_counter() - start,
        params_before=sum(p.numel() for p in loaded.model.parameters()),
        params_after=sum(p.numel() for p in folded.parameters()),
    )
