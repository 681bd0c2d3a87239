"""Accuracy on labelled audio, side by side: `edgeaudio eval`, and the accuracy gates of `export --eval` and
`bench --eval`.

Every model scores every clip the way `predict` does (its own front end, its windows, the clip's score the mean
of its windows' probabilities; edgeaudio.pipeline.clip_scores). The first model is the reference: every other one gets its drop against it, with a paired interval and a paired test
on the same clips (edgeaudio.accuracy), and, with a maximum drop, a verdict. A clip that cannot be read is left
out for every model (so the comparison stays paired) and listed; none readable is an error.

Runtime side when every model is an exported file: numpy, the audio libraries and the interpreters.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from edgeaudio import accuracy
from edgeaudio.datasets.labelled import LabelledSet, match_labels, read_labelled
from edgeaudio.errors import InputError
from edgeaudio.pipeline.clip_scores import ClipScores, ModelSource, open_scorer, score_clips

SIGNIFICANCE = 0.05  # a drop counts against --max-drop only when the paired test calls the loss real at this level


# -- the report ------------------------------------------------------------------------------------------------


@dataclass
class ModelAccuracy:
    """One model's accuracy on the set and, for every model after the first, how it compares with the first."""

    model: str
    format: str
    precision: str
    backend: str
    metrics: dict[str, accuracy.Estimate]
    per_class: list[float | None]  # recall (single-label) or AP (multi-label) per class of the reference's labels
    confusion: list[list[int]] | None = None
    versus: accuracy.Paired | None = None
    gate: str | None = None  # "pass" or "FAIL: why", when a maximum drop was given
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.gate is None or not self.gate.startswith("FAIL")

    def to_dict(self) -> dict:
        return {
            "model": self.model, "format": self.format, "precision": self.precision, "backend": self.backend,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            "per_class": self.per_class, "confusion": self.confusion,
            "versus_reference": None if self.versus is None else self.versus.to_dict(),
            "gate": self.gate, "passed": self.passed,
        }


@dataclass
class ClipRow:
    """One clip's truth and each model's answer, for the per-clip CSV (and the check that eval agrees with predict)."""

    file: str
    truth: list[str]
    status: str  # "ok", "silent", "error"
    predicted: list[str | None]  # per model: top-1 label
    score: list[float | None]
    error: str | None = None


@dataclass
class EvalReport:
    data: str
    task: str  # "single-label" or "multi-label"
    headline: str  # "top1" or "mAP"
    labels: list[str]
    clips: int  # clips in the set
    scored: int  # clips every model scored
    silent: int
    unreadable: list[tuple[str, str]]
    models: list[ModelAccuracy]
    max_drop: float | None = None  # points
    bootstrap: int = accuracy.BOOTSTRAP
    rows: list[ClipRow] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(m.passed for m in self.models)

    def to_dict(self) -> dict:
        return {
            "schema": "edgeaudio.eval/1", "data": self.data, "task": self.task, "headline": self.headline,
            "labels": self.labels, "clips": self.clips, "scored": self.scored, "silent": self.silent,
            "unreadable": [{"file": f, "error": e} for f, e in self.unreadable],
            "max_drop_points": self.max_drop, "significance": SIGNIFICANCE, "bootstrap": self.bootstrap,
            "confidence": accuracy.CONFIDENCE, "passed": self.passed, "wall_seconds": round(self.wall_seconds, 3),
            "models": [m.to_dict() for m in self.models],
        }


def gate_verdict(versus: accuracy.Paired, max_drop: float | None) -> str | None:
    """"pass", or "FAIL: ..." when the drop is over `max_drop` points and the paired test calls the loss real."""
    if max_drop is None:
        return None
    points = 100 * versus.drop
    if points > max_drop and versus.p_worse < SIGNIFICANCE:
        return f"FAIL: drop {points:.2f} > {max_drop:g} points, real by the paired test (p {versus.p_worse:.3g})"
    if points > max_drop:
        return f"pass (drop {points:.2f} > {max_drop:g} points, but not beyond noise: p {versus.p_worse:.3g})"
    return "pass"


def _class_order(scorers, sources: list[ModelSource]) -> tuple[list[str], list[np.ndarray]]:
    """The reference's class names, and for each model the column of its output holding each of them."""
    for scorer, source in zip(scorers, sources):
        if not scorer.labels:
            raise InputError("records no class names, so its outputs cannot be matched to labels; "
                             "pass --labels FILE (or re-export it with --labels FILE)", source.path)
    reference = scorers[0].labels
    columns = []
    for scorer, source in zip(scorers, sources):
        index = {name: i for i, name in enumerate(scorer.labels)}
        missing = [name for name in reference if name not in index]
        if missing:
            raise InputError(f"lacks {len(missing)} of the reference's classes ({', '.join(missing[:5])}); "
                             f"models compared side by side must have the same classes", source.path)
        columns.append(np.array([index[name] for name in reference]))
    acts = {scorer.head_act for scorer in scorers}
    if len(acts) > 1:
        raise InputError("the models mix single-label (softmax) and multi-label (sigmoid) heads; compare like with like")
    return list(reference), columns


def evaluate(
    sources: list[ModelSource],
    data: str | os.PathLike | LabelledSet,
    max_drop: float | None = None,
    workers: int = 1,
    progress: Callable[[int], None] = lambda _n: None,
    draws: int = accuracy.BOOTSTRAP,
    loaded=None,
) -> EvalReport:
    """Accuracy of every model in `sources` on the labelled clips of `data`, the first as the reference.

    `data` is a folder or table (see edgeaudio.datasets.labelled) or one already read; `progress(k)` is called as
    k more clips finish. `loaded` is the first source's checkpoint already read (export --eval)."""
    if not sources:
        raise InputError("eval needs at least one model")
    if max_drop is not None and not max_drop >= 0:
        raise InputError(f"--max-drop {max_drop:g}: a drop bound is in points, 0 or more")
    start = time.perf_counter()
    scorers = [open_scorer(s, loaded if i == 0 else None) for i, s in enumerate(sources)]
    labels, columns = _class_order(scorers, sources)
    multi = scorers[0].head_act == "sigmoid"
    labelled = data if isinstance(data, LabelledSet) else read_labelled(data)
    targets = match_labels(labelled, labels, multi)
    clip_scores = score_clips(sources, scorers, labelled.clips, workers, progress)
    if not clip_scores.readable.any():
        first = next(iter(clip_scores.errors.items()))
        raise InputError(f"none of its {len(labelled)} clips could be read (first: {labelled.clips[first[0]]}: {first[1]})", labelled.source)
    scores = [s[:, col].astype(np.float64) for s, col in zip(clip_scores.scores, columns)]
    kept = [t for t, ok in zip(targets, clip_scores.readable) if ok]
    models = _measure(scorers, sources, scores, kept, len(labels), multi, max_drop, draws)
    unreadable = [(str(labelled.clips[i]), e) for i, e in sorted(clip_scores.errors.items())]
    rows = _clip_rows(labelled, targets, clip_scores, scores, labels)
    return EvalReport(str(labelled.source), "multi-label" if multi else "single-label", "mAP" if multi else "top1",
                      labels, len(labelled), int(clip_scores.readable.sum()), len(clip_scores.silent), unreadable, models,
                      max_drop, draws, rows, time.perf_counter() - start)


def _measure(scorers, sources, scores, targets, classes: int, multi: bool, max_drop, draws) -> list[ModelAccuracy]:
    out: list[ModelAccuracy] = []
    if multi:
        positives = np.zeros((len(targets), classes), dtype=bool)
        for row, t in enumerate(targets):
            positives[row, t] = True
        results = [accuracy.multi_label(s, positives, draws) for s in scores]
        for i, (scorer, result) in enumerate(zip(scorers, results)):
            versus = accuracy.compare_multi_label(results[0], result) if i else None
            out.append(ModelAccuracy(sources[i].path, *scorer.describe(), {"mAP": result.mean_ap}, result.ap,
                                     versus=versus, gate=gate_verdict(versus, max_drop) if versus else None))
        return out
    truth = np.array([t[0] for t in targets])
    results = [accuracy.single_label(s, truth, draws) for s in scores]
    for i, (scorer, result) in enumerate(zip(scorers, results)):
        versus = accuracy.compare_single_label(results[0], result) if i else None
        metrics = {"top1": result.top1, "top5": result.top5, "balanced": result.balanced}
        out.append(ModelAccuracy(sources[i].path, *scorer.describe(), metrics, result.recall, result.confusion.tolist(),
                                 versus=versus, gate=gate_verdict(versus, max_drop) if versus else None))
    return out


def _clip_rows(labelled: LabelledSet, targets, clip_scores: ClipScores, scores, labels) -> list[ClipRow]:
    rows = []
    k = 0
    for i, clip in enumerate(labelled.clips):
        truth = [labels[t] for t in targets[i]]
        if not clip_scores.readable[i]:
            rows.append(ClipRow(str(clip), truth, "error", [None] * len(scores), [None] * len(scores), clip_scores.errors[i]))
            continue
        top = [int(np.argsort(-s[k], kind="stable")[0]) for s in scores]
        status = "silent" if i in clip_scores.silent else "ok"
        rows.append(ClipRow(str(clip), truth, status, [labels[t] for t in top], [float(s[k][t]) for s, t in zip(scores, top)]))
        k += 1
    return rows

