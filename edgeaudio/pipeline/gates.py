"""The bounds each step of the parity chain must meet, stated once.

Float steps (fold, ONNX Runtime, TFLite fp32) reorder float32 sums and nothing else, so logits stay within
1e-5 of the original relative to their scale, probabilities within 1e-5 absolute. fp16 keeps 11 bits of
mantissa: cosine >= 0.9999 and the same top-1. int8 is judged as users judge it: top-1 agreement >= 98% and
cosine >= 0.99 against the original on held-out data.

Multi-label (sigmoid) heads have no single answer to agree on: many classes sit near each other, and the top-1
of a clip with three active labels is a coin toss between them. Their int8 step is judged by cosine >= 0.99 and
by each probability staying within 0.1 of the original (int8 output step 1/256; 0.1 is well inside the margin
a 0.5 decision threshold leaves to a confident label).
"""

from __future__ import annotations

from edgeaudio.parity import Bounds

FLOAT_BOUNDS = {"logits": Bounds(max_rel=1e-5), "probabilities": Bounds(max_abs=1e-5)}
FP16_BOUNDS = {
    "logits": Bounds(max_rel=1e-2, cosine=0.9999, top1=0.98),
    "probabilities": Bounds(max_abs=1e-2, cosine=0.9999, top1=0.98),
}
INT8_BOUNDS = {"logits": Bounds(cosine=0.99, top1=0.98), "probabilities": Bounds(cosine=0.99, top1=0.98)}
MULTILABEL_INT8_BOUNDS = {"logits": Bounds(cosine=0.99), "probabilities": Bounds(max_abs=0.1, cosine=0.99)}
MULTILABEL_FP16_BOUNDS = {"logits": Bounds(max_rel=1e-2, cosine=0.9999), "probabilities": Bounds(max_abs=1e-2, cosine=0.9999)}
BY_PRECISION = {"fp32": FLOAT_BOUNDS, "fp16": FP16_BOUNDS, "int8": INT8_BOUNDS}
MULTILABEL_BY_PRECISION = {"fp32": FLOAT_BOUNDS, "fp16": MULTILABEL_FP16_BOUNDS, "int8": MULTILABEL_INT8_BOUNDS}


def bounds_for(precision: str, output_names: list[str] | tuple[str, ...], kind: str, activation: str = "softmax") -> dict[str, Bounds]:
    """Per-output bounds for a step of `precision` whose outputs are `kind` ("logits" or "probabilities") of a
    head with `activation` ("softmax": single-label; "sigmoid": multi-label)."""
    table = MULTILABEL_BY_PRECISION if activation == "sigmoid" else BY_PRECISION
    return {name: table[precision][kind] for name in output_names}
