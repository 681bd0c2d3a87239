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
from edgeaudio.fold import fold_model
from edgeaudio.parity import ParityCheck, check
from edgeaudio.pipeline.gates import FLOOR_FACTOR, FOLD_EXACT, GATED_METRIC, float_basis, float_bounds, fold_exact_bounds, kind_of
from edgeaudio.pipeline.reference import as_float64, measure_reference
from edgeaudio.pipeline.torch_run import run_model
from edgeaudio.synthetic import synthetic_inputs


@dataclass
class FoldResult:
    """What `fold_checkpoint` did: the source it read, the parity it measured, the file it wrote.

    `chain` holds two checks: the fold in float64 against the original in float64 (exact to FOLD_EXACT), and
    the folded float32 model against the float64 original (within the float gate of the original's own noise).
    """

    source: str
    source_sha256: str
    found: str
    warnings: list[str]
    chain: list[ParityCheck]
    output: str | None
    seconds: float
    params_before: int
    params_after: int
    failure: str | None = None  # why nothing was written: the broken bounds, one line

    @property
    def passed(self) -> bool:
        return all(step.passed for step in self.chain)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "source_sha256": self.source_sha256,
            "found": self.found,
            "warnings": list(self.warnings),
            "passed": self.passed,
            "failure": self.failure,
            "verdict": fold_verdict(self.chain),
            "chain": [step.to_dict() for step in self.chain],
            "output": self.output,
            "seconds": round(self.seconds, 3),
            "params_before": self.params_before,
            "params_after": self.params_after,
        }


def _worst(step: ParityCheck) -> tuple[float, float, float]:
    """(worst gated error, its bound, its noise floor) over a check's outputs, each in its gated metric."""
    rows = []
    for m in step.outputs:
        metric = GATED_METRIC[kind_of(m.name)]
        bound = getattr(step.bounds[m.name], metric)
        rows.append((getattr(m, metric) / bound, getattr(m, metric), bound, step.noise_floor.get(m.name, 0.0)))
    _, error, bound, floor = max(rows)
    return error, bound, floor


def fold_verdict(chain: list[ParityCheck]) -> str:
    """One sentence on a fold's two checks: is the fold exact, and is the float32 difference rounding."""
    exact, rounding = chain
    fold_error, _, _ = _worst(exact)
    error, bound, floor = _worst(rounding)
    if not exact.passed:
        return f"the fold is NOT exact: float64 error {fold_error:.2g} > {FOLD_EXACT:g}; the folded model computes something else"
    head = f"the fold is exact (float64 error {fold_error:.2g})"
    if rounding.passed:
        return f"{head}; the float32 difference is rounding ({error:.2g} against a floor of {floor:.2g}, bound {bound:.2g})"
    return f"{head}, but the folded float32 model is {error:.2g} from the float64 original, over its bound {bound:.2g} (floor {floor:.2g})"


def verify_fold(original: nn.Module, folded: nn.Module, inputs: np.ndarray, factor: float = FLOOR_FACTOR) -> list[ParityCheck]:
    """The fold's two checks on `inputs` (see FoldResult), for logits and probabilities."""
    original64 = as_float64(original)
    folded64 = fold_model(original64)
    exact_pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    rounding_pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    floor: dict[str, float] = {}
    for output in ("logits", "probs"):
        reference = measure_reference(original, inputs, output, original64)
        in64 = run_model(folded64, inputs.astype(np.float64), output)
        in32 = run_model(folded, inputs, output)
        for name, exact in reference.exact.items():
            exact_pairs[name] = (exact, in64[name])
            rounding_pairs[name] = (exact, in32[name])
        floor.update(reference.noise_floor)
    return [
        check("fold, float64", "original, float64", exact_pairs, fold_exact_bounds(list(exact_pairs)), basis=f"exact to {FOLD_EXACT:g}"),
        check("folded, float32", "original, float64", rounding_pairs, float_bounds(floor, factor), floor, float_basis(factor, factor != FLOOR_FACTOR)),
    ]


def fold_loaded(loaded: LoadedCheckpoint, samples: int = 8, seed: int = 0, factor: float = FLOOR_FACTOR) -> tuple[nn.Module, list[ParityCheck]]:
    """Fold a loaded checkpoint's model and measure parity on inputs shaped like real ones (log-mel or waveform)."""
    folded = fold_model(loaded.model)
    inputs = synthetic_inputs(samples, tuple(loaded.config.input_shape[1:]), seed=seed)
    return folded, verify_fold(loaded.model, folded, inputs, factor)


def fold_checkpoint(
    path: str | os.PathLike,
    output: str | os.PathLike | None = None,
    samples: int = 8,
    seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
    factor: float = FLOOR_FACTOR,
) -> FoldResult:
    """Load `path`, fold it, verify parity, and (if `output`) write the deploy checkpoint atomically.

    Returns the result either way; when the folded model breaks the bounds, `failure` says how and nothing is
    written (the CLI exits 1).
    """
    start = time.perf_counter()
    if output is not None:
        check_output_file(output)
    loaded = load_checkpoint(path, overrides=overrides)
    folded, chain = fold_loaded(loaded, samples, seed, factor)
    failure = None
    if not all(step.passed for step in chain):
        failure = f"{path}: {fold_verdict(chain)}: " + "; ".join(f for step in chain for f in step.failures)
        output = None
    if output is not None:
        extra = {
            "source": {"file": Path(path).name, "sha256": loaded.sha256, "form": loaded.form, "container": loaded.container},
            "parity": [step.to_dict() for step in chain],
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
        chain=chain,
        output=None if output is None else str(output),
        seconds=time.perf_counter() - start,
        params_before=sum(p.numel() for p in loaded.model.parameters()),
        params_after=sum(p.numel() for p in folded.parameters()),
        failure=failure,
    )
