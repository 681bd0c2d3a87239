"""The bounds each step of the parity chain must meet, stated once. numpy only.

Every step is judged against the original model evaluated in float64 on the same held-out inputs: the exact
answer, as near as a computer gets. The original in float32 is itself some way from it (its noise floor), and
no float32 conversion can be held to less than float32 does by itself.

- Float steps (fold, ONNX Runtime, TFLite fp32) reorder float32 sums and nothing else. Each output's bound is
  FLOOR_FACTOR x the original float32 model's own error against float64 on those inputs, and at least
  ABSOLUTE_FLOOR; logits are judged by max error relative to their scale, probabilities by max absolute error.
  The floor is the worst of FLOOR_DRAWS float32 draws (edgeaudio.pipeline.reference says why one draw is not
  enough, and why the jittered draws run on half the samples). FLOOR_FACTOR is measured
  (benchmarks/results/parity_floor.md): on official-format checkpoints with realistic batch-norm statistics,
  small and VGG-Sound size, seeds 0-4, every correct float step came within
  1.63 x its floor (TFLite fp32 1.63, the export-form PyTorch model 1.49, ONNX Runtime 0.87, the folded model
  in `fold` 0.87); 4 x leaves room for a runtime that sums in yet another order, while a 1% weight error in one
  mid-network conv, a shifted padding, swapped kernels or one nudged ONNX weight land far outside it (tests).
  ABSOLUTE_FLOOR (8 float32 ulps at 1.0) keeps a bound meaningful when the original happens to round almost
  exactly (saturated probabilities).
- The fold itself is checked in float64 too, where rounding is 1e-16: a correct fold is exact to FOLD_EXACT
  (measured 3e-15 relative), so any larger difference is a fold mistake, not rounding.
- fp16 stores weights with 11 bits of mantissa, and what that costs depends on the model: a network with
  large logits moves its probabilities far more than a calm one. Its floor is measured the same way: the
  export-form model with its weights rounded to float16 and back, computed in PyTorch, against the float64
  original; the bound is FLOOR_FACTOR x that floor (single-label heads also keep top-1 agreement).
- int8 is judged as users judge it: top-1 agreement and cosine >= 0.99 against the original on held-out data.
  Agreement fails only when it is below 98% with 95% confidence (the Wilson interval over the held-out count;
  see Bounds), so the verdict describes the model, not which sample happened to sit on a near-tie.

Multi-label (sigmoid) heads have no single answer to agree on: many classes sit near each other, and the top-1
of a clip with three active labels is a coin toss between them. Their int8 step is judged by cosine >= 0.99 and
by each probability staying within 0.1 of the original (int8 output step 1/256; 0.1 is well inside the margin
a 0.5 decision threshold leaves to a confident label).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from edgeaudio.parity import Bounds, compare

FLOOR_FACTOR = 4.0
ABSOLUTE_FLOOR = 8 * float(np.finfo(np.float32).eps)  # 9.5e-07
FOLD_EXACT = 1e-9
GATED_METRIC = {"logits": "max_rel", "probabilities": "max_abs"}  # what a float step's bound is on, per kind

TOP1 = 0.98
INT8_BOUNDS = {"logits": Bounds(cosine=0.99, top1=TOP1), "probabilities": Bounds(cosine=0.99, top1=TOP1)}
MULTILABEL_INT8_BOUNDS = {"logits": Bounds(cosine=0.99), "probabilities": Bounds(max_abs=0.1, cosine=0.99)}


def kind_of(output_name: str) -> str:
    """"logits" or "probabilities", from an output's name ("probabilities", "verb_logits", ...)."""
    return "logits" if output_name.endswith("logits") else "probabilities"


def noise_floor(exact: Mapping[str, np.ndarray], float32: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Per output: the float32 original's error against the float64 original, in the metric its bound is on. A
    draw of the first samples only (fewer rows than `exact`) is measured on those, and a relative error relative
    to the scale of all of them: the scale every step is judged at (a few samples' scale can be smaller, and
    would loosen the floor)."""
    floor = {}
    for name, reference in exact.items():
        candidate = float32[name]
        metrics = compare(name, reference[: len(candidate)], candidate)
        metric = GATED_METRIC[kind_of(name)]
        scale = float(np.max(np.abs(reference))) if reference.size else 0.0
        if metric == "max_rel" and len(candidate) < len(reference) and scale > 0:
            floor[name] = float(metrics.max_abs) / scale
        else:
            floor[name] = float(getattr(metrics, metric))
    return floor


def float_basis(factor: float, overridden: bool = False, floor: str = "noise floor") -> str:
    """How float bounds were set, in a phrase for reports."""
    who = "set by --float-factor" if overridden else "stated default"
    return f"{factor:g} x {floor} ({who}), at least {ABSOLUTE_FLOOR:.2g}"


def float_bounds(floor: Mapping[str, float], factor: float = FLOOR_FACTOR) -> dict[str, Bounds]:
    """Bounds of a float step: per output, factor x its noise floor, at least ABSOLUTE_FLOOR."""
    return {name: Bounds(**{GATED_METRIC[kind_of(name)]: max(factor * value, ABSOLUTE_FLOOR)}) for name, value in floor.items()}


def fold_exact_bounds(names) -> dict[str, Bounds]:
    """Bounds of the float64 fold against the float64 original: exact up to float64 rounding."""
    return {name: Bounds(**{GATED_METRIC[kind_of(name)]: FOLD_EXACT}) for name in names}


def bounds_for(
    precision: str,
    output_names: list[str] | tuple[str, ...],
    activation: str = "softmax",
    floor: Mapping[str, float] | None = None,
    factor: float = FLOOR_FACTOR,
) -> dict[str, Bounds]:
    """Per-output bounds for a step of `precision` ("fp32", "fp16", "int8") of a head with `activation`
    ("softmax": single-label; "sigmoid": multi-label). fp32 and fp16 need that precision's `floor` per output
    (the original's float32 noise; the fp16-weight model's error)."""
    if precision in ("fp32", "fp16"):
        if not floor:
            raise ValueError(f"{precision} bounds are set from a measured noise floor; none was given")
        bounds = float_bounds({name: floor[name] for name in output_names}, factor)
        if precision == "fp16" and activation != "sigmoid":
            bounds = {name: Bounds(**{**b.to_dict(), "top1": TOP1}) for name, b in bounds.items()}
        return bounds
    table = MULTILABEL_INT8_BOUNDS if activation == "sigmoid" else INT8_BOUNDS
    return {name: table[kind_of(name)] for name in output_names}
