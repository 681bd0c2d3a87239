"""Numerical parity between a reference output and a candidate output. numpy only: runs on a device too.

Metrics per output tensor (batch-first arrays):
- max_abs, mean_abs: of |candidate - reference|;
- max_rel: max |candidate - reference| / max |reference|, the error relative to the output's own scale
  (element-wise ratios blow up on near-zero entries and say nothing useful);
- cosine: cosine similarity of the flattened arrays (1 is identical);
- snr_db: 10 log10(sum reference^2 / sum error^2) (inf when identical);
- top1: fraction of rows whose arg-max classes agree (over `samples` rows); top5: fraction of rows whose
  reference arg-max is among the candidate's five highest;
- near_ties: rows whose arg-max differs, but where the reference itself rated the candidate's pick within TIE of
  its own top class (in probabilities; logits through softmax): a question the model had not decided;
- agreement: (agreeing rows + near ties) / samples, with its Wilson 95% interval (agreement_low,
  agreement_high): what the top-1 gate judges (see Bounds).

A check may carry the reference's own noise floor per output (the float32 original against the float64
original on the same inputs, in the metric its bound is on), so a reader sees an error beside the rounding
float32 itself makes.
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
    samples: int = 0
    near_ties: int = 0
    agreement: float = 1.0
    agreement_low: float = 0.0
    agreement_high: float = 1.0

    @property
    def top1_agreeing(self) -> int:
        return int(round(self.top1 * self.samples))

    @property
    def hard_flips(self) -> int:
        """Rows whose top-1 changed to a class the reference rated more than TIE below its own."""
        return self.samples - self.top1_agreeing - self.near_ties

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in asdict(self).items()}


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a proportion (95% for the default z): sound at 0 or n successes, unlike
    the normal approximation, which collapses to a point there."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_worse(lost: int, gained: int) -> float:
    """One-sided exact McNemar p-value that a model is worse than its reference on the same samples: `lost`
    samples the reference got right and the model wrong, `gained` the other way round. Only the samples on which
    the two differ carry evidence; under "no worse" each is a fair coin, so p = P(Binomial(lost + gained, 1/2) >=
    lost). A small p says the loss is real, not the draw."""
    n = lost + gained
    if n == 0 or lost == 0:
        return 1.0
    return min(1.0, sum(math.comb(n, k) for k in range(lost, n + 1)) / 2.0 ** n)


@dataclass(frozen=True)
class Bounds:
    """Pass bounds for a comparison; None leaves a metric unchecked.

    top1 is judged on evidence, not on a point estimate: a step fails only when its agreement (near ties
    counted as agreeing) is below `top1` with 95% confidence (the Wilson interval's upper end is below it). One
    flip among a few dozen samples, or flips between classes the reference itself could not tell apart, do not
    fail a model whose answers are unchanged; a real defect, which changes decided answers, does.
    """

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
        if self.top1 is not None and not m.agreement_high >= self.top1:
            out.append(
                f"{m.name}: top-1 agreement {m.agreement:.1%} ({m.samples - m.hard_flips}/{m.samples}, "
                f"{m.near_ties} of them near ties; 95% CI {m.agreement_low:.1%}-{m.agreement_high:.1%}) is below "
                f"{self.top1:.0%} with 95% confidence"
            )
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
    noise_floor: dict[str, float] = field(default_factory=dict)  # per output: the reference's own float32 noise
    basis: str = ""  # how the bounds were set, in a phrase (e.g. "4 x noise floor, at least 1e-06")

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        """The verdict and, per bounded output, the figures its bounds are on: "pass: abs 1.1e-06",
        "pass: cos 0.9983, top-1 96.9%"."""
        parts = []
        for m in self.outputs:
            b = self.bounds.get(m.name) or Bounds()
            figures = [f"rel {m.max_rel:.2g}" if b.max_rel is not None else "", f"abs {m.max_abs:.2g}" if b.max_abs is not None else "",
                       f"cos {m.cosine:.4f}" if b.cosine is not None else "", f"top-1 {m.agreement:.1%}" if b.top1 is not None else ""]
            parts += [f for f in figures if f]
        return ("pass" if self.passed else "FAIL") + (": " + ", ".join(parts) if parts else "")

    @classmethod
    def from_dict(cls, data: dict) -> "ParityCheck":
        """A check as to_dict wrote it (a manifest's parity chain)."""
        known = {f for f in OutputMetrics.__dataclass_fields__}
        outputs = [OutputMetrics(**{k: (math.inf if v is None else v) for k, v in m.items() if k in known})  # to_dict wrote inf as null
                   for m in data.get("outputs", [])]
        return cls(data["step"], data.get("reference", ""), int(data.get("samples", 0)), outputs,
                   {k: Bounds(**v) for k, v in data.get("bounds", {}).items()}, list(data.get("failures", [])),
                   dict(data.get("noise_floor", {})), data.get("basis", ""))

    def to_dict(self) -> dict:
        return {
            "step": self.step,
            "reference": self.reference,
            "samples": self.samples,
            "passed": self.passed,
            "bounds": {name: b.to_dict() for name, b in self.bounds.items()},
            "outputs": [m.to_dict() for m in self.outputs],
            "noise_floor": dict(self.noise_floor),
            "basis": self.basis,
            "failures": list(self.failures),
        }


TIE = 0.1  # probabilities the reference puts within 0.1 of each other: a near tie it had not decided


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
    rows = ref.shape[0] if ref.ndim > 1 else 1
    ties = _near_ties(ref, cand, logits=name.endswith("logits"))
    agreeing = int(round(top1 * rows)) + ties
    low, high = wilson_interval(agreeing, rows)
    return OutputMetrics(name, max_abs, float(abs_err.mean()) if err.size else 0.0, max_rel, cosine, snr_db, top1, top5,
                         rows, ties, agreeing / rows, low, high)


def _near_ties(ref: np.ndarray, cand: np.ndarray, logits: bool) -> int:
    """Rows whose arg-max differs but whose reference probabilities of the two picks are within TIE."""
    rows_ref = ref.reshape(ref.shape[0], -1) if ref.ndim > 1 else ref.reshape(1, -1)
    rows_cand = cand.reshape(rows_ref.shape)
    if logits:
        shifted = np.exp(rows_ref - rows_ref.max(axis=1, keepdims=True))
        rows_ref = shifted / shifted.sum(axis=1, keepdims=True)
    mine, theirs = rows_ref.argmax(axis=1), rows_cand.argmax(axis=1)
    index = np.arange(len(rows_ref))
    gap = rows_ref[index, mine] - rows_ref[index, theirs]
    return int(np.sum((mine != theirs) & (gap <= TIE)))


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
    noise_floor: Mapping[str, float] | None = None,
    basis: str = "",
) -> ParityCheck:
    """Compare every named (reference, candidate) pair and collect the bounds they break.

    `bounds` is one Bounds for every output, or one per output name (outputs not named go unchecked);
    `noise_floor` and `basis` are recorded with the result (see ParityCheck).
    """
    per_output = {name: bounds if isinstance(bounds, Bounds) else bounds.get(name, Bounds()) for name in pairs}
    outputs = [compare(name, ref, cand) for name, (ref, cand) in pairs.items()]
    samples = int(next(iter(pairs.values()))[0].shape[0]) if pairs else 0
    failures = [v for m in outputs for v in per_output[m.name].violations(m)]
    return ParityCheck(step, reference_name, samples, outputs, per_output, failures, dict(noise_floor or {}), basis)
