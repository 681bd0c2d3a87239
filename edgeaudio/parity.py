"""Numerical parity between a reference output and a candidate output. numpy only: runs on a device too.

Metrics per output tensor (batch-first arrays):
- max_abs, mean_abs: of |candidate - reference|;
- max_rel: max |candidate - reference| / max |reference|, the error relative to the output's own scale
  (element-wise ratios blow up on near-zero entries and say nothing useful);
- cosine: cosine similarity of the flattened arrays (1 is identical);
- snr_db: 10 log10(sum reference^2 / sum error^2) (inf when identical);
- top1: fraction of rows whose arg-max classes agree; top5: fraction of rows whose reference arg-max is
  among the candidate's five highest.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Mapping

import numpy as np


@dataclass(frozen=True)
class OutputMetrics:
    """How far one candidate output is from its reference."""

    name: str
    max_abs: float
    mean_abs: float
    max_rel: float
    cosine: float
    snr_db: float
    top1: float
    top5: float

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Bounds:
    """Pass bounds for a comparison; None leaves a metric unchecked."""

    max_rel: float | None = None
    max_abs: float | None = None
    cosine: float | None = None
    top1: float | None = None

    def violations(self, m: OutputMetrics) -> list[str]:
        """Sentences naming each bound `m` breaks."""
        out = []
        if self.max_rel is not None and not m.max_rel <= self.max_rel:
            out.append(f"{m.name}: max relative error {m.max_rel:.3g} > {self.max_rel:g}")
        if self.max_abs is not None and not m.max_abs <= self.max_abs:
            out.append(f"{m.name}: max absolute error {m.max_abs:.3g} > {self.max_abs:g}")
        if self.cosine is not None and not m.cosine >= self.cosine:
            out.append(f"{m.name}: cosine {m.cosine:.6f} < {self.cosine:g}")
        if self.top1 is not None and not m.top1 >= self.top1:
            out.append(f"{m.name}: top-1 agreement {m.top1:.1%} < {self.top1:.0%}")
        return out

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ParityCheck:
    """One step of a parity chain: a candidate against its reference, with the bounds it had to meet."""

    step: str
    reference: str
    samples: int
    outputs: list[OutputMetrics]
    bounds: dict[str, Bounds]  # per output name
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        return {
            "step": self.step,
            "reference": self.reference,
            "samples": self.samples,
            "passed": self.passed,
            "bounds": {name: b.to_dict() for name, b in self.bounds.items()},
            "outputs": [m.to_dict() for m in self.outputs],
            "failures": list(self.failures),
        }


def compare(name: str, reference: np.ndarray, candidate: np.ndarray) -> OutputMetrics:
    """Metrics of `candidate` against `reference` (same shape; rows are samples, columns classes)."""
    ref = np.asarray(reference, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    if ref.shape != cand.shape:
        raise ValueError(f"{name}: shapes differ, reference {ref.shape} vs candidate {cand.shape}")
    err = cand - ref
    abs_err = np.abs(err)
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    max_abs = float(abs_err.max()) if err.size else 0.0
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else math.inf)
    ref_flat, cand_flat = ref.ravel(), cand.ravel()
    norms = float(np.linalg.norm(ref_flat) * np.linalg.norm(cand_flat))
    cosine = float(ref_flat @ cand_flat / norms) if norms > 0 else (1.0 if max_abs == 0 else 0.0)
    noise = float(np.sum(err**2))
    snr_db = math.inf if noise == 0 else 10.0 * math.log10(max(float(np.sum(ref**2)), 1e-300) / noise)
    top1, top5 = _topk_agreement(ref, cand)
    return OutputMetrics(name, max_abs, float(abs_err.mean()) if err.size else 0.0, max_rel, cosine, snr_db, top1, top5)


def _topk_agreement(ref: np.ndarray, cand: np.ndarray) -> tuple[float, float]:
    rows_ref = ref.reshape(ref.shape[0], -1) if ref.ndim > 1 else ref.reshape(1, -1)
    rows_cand = cand.reshape(rows_ref.shape)
    top1 = float(np.mean(rows_ref.argmax(axis=1) == rows_cand.argmax(axis=1)))
    k = min(5, rows_ref.shape[1])
    cand_top = np.argsort(-rows_cand, axis=1)[:, :k]
    top5 = float(np.mean(np.any(cand_top == rows_ref.argmax(axis=1)[:, None], axis=1)))
    return top1, top5


def check(
    step: str,
    reference_name: str,
    pairs: Mapping[str, tuple[np.ndarray, np.ndarray]],
    bounds: Bounds | Mapping[str, Bounds],
) -> ParityCheck:
    """Compare every named (reference, candidate) pair and collect the bounds they break.

    `bounds` is one Bounds for every output, or one per output name (outputs not named go unchecked).
    """
    per_output = {name: bounds if isinstance(bounds, Bounds) else bounds.get(name, Bounds()) for name in pairs}
    outputs = [compare(name, ref, cand) for name, (ref, cand) in pairs.items()]
    samples = int(next(iter(pairs.values()))[0].shape[0]) if pairs else 0
    failures = [v for m in outputs for v in per_output[m.name].violations(m)]
    return ParityCheck(step, reference_name, samples, outputs, per_output, failures)
