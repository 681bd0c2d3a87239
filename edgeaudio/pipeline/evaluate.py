"""Accuracy on labelled audio, side by side: `edgeaudio eval`, and the accuracy gates of `export --eval` and
`bench --eval`.

Every model scores every clip the way `predict` does (its own front end, its windows, the clip's score the mean
of its windows' probabilities); clips are decoded once per front end and shared by the models that use it. The
first model is the reference: every other one gets its drop against it, with a paired interval and a paired test
on the same clips (edgeaudio.accuracy), and, with a maximum drop, a verdict. A clip that cannot be read is left
out for every model (so the comparison stays paired) and listed; none readable is an error.

Runtime side when every model is an exported file: numpy, the audio libraries and the interpreters. A checkpoint
brings in torch through edgeaudio.pipeline.torch_predict, imported only then.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from edgeaudio import accuracy
from edgeaudio.datasets.labelled import LabelledSet, match_labels, read_labelled
from edgeaudio.errors import InputError

SIGNIFICANCE = 0.05  # a drop counts against --max-drop only when the paired test calls the loss real at this level
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".pyth", ".h5", ".hdf5")


@dataclass(frozen=True)
class ModelSource:
    """What it takes to open one model to score clips, here or in a worker process. `frontend` (a preset) and
    `labels` are for checkpoints that record neither; an exported model's manifest states both."""

    path: str
    frontend: str | None = None
    labels: tuple[str, ...] | None = None
    threads: int | None = None


def open_scorer(source: ModelSource, loaded=None):
    """A Predictor (exported model) or CheckpointPredictor (checkpoint, in PyTorch) for `source`."""
    path = Path(source.path)
    if not path.exists():
        raise InputError("no such file", path)
    if path.suffix.lower() in CHECKPOINT_SUFFIXES:
        from edgeaudio.pipeline.torch_predict import CheckpointPredictor

        return CheckpointPredictor(path, source.frontend, list(source.labels) if source.labels else None, source.threads, loaded)
    from edgeaudio.pipeline.predict import Predictor

    return Predictor(path, source.threads)


@dataclass
class ClipScores:
    """Each model's clip scores (clips, classes) on the readable clips, and what happened to the others."""

    scores: list[np.ndarray]
    readable: np.ndarray  # per clip of the set, whether it was scored
    errors: dict[int, str] = field(default_factory=dict)  # clip index -> why it could not be read
    silent: set[int] = field(default_factory=set)  # clip indices scored but holding no sound


def _frontend_groups(scorers) -> list[list[int]]:
    """Models sharing a front end, so a clip is decoded and windowed once for all of them."""
    groups: dict[str, list[int]] = {}
    for i, scorer in enumerate(scorers):
        groups.setdefault(repr(sorted(scorer.frontend.to_dict().items())), []).append(i)
    return list(groups.values())


def score_clip(scorers, groups: list[list[int]], clip) -> tuple[list[np.ndarray] | None, str | None, bool]:
    """(each model's clip probabilities, None, silent) or (None, why it cannot be read, False)."""
    from edgeaudio.audio import AudioFormatError, silence_problem

    rows: list = [None] * len(scorers)
    silent = False
    for members in groups:
        first = scorers[members[0]]
        try:
            wave = first.load(clip)
        except AudioFormatError as exc:
            return None, exc.problem, False
        silent = silent or silence_problem(wave) is not None
        windows, _ = first.windows_of(wave)
        for m in members:
            rows[m] = scorers[m].window_probabilities(windows).mean(axis=0)
    return rows, None, silent


_WORKER: dict = {}


def _worker_start(sources: list[ModelSource]) -> None:
    scorers = [open_scorer(s) for s in sources]
    _WORKER.update(scorers=scorers, groups=_frontend_groups(scorers))


def _worker_chunk(items: list[tuple[int, str]]) -> list[tuple[int, list | None, str | None, bool]]:
    return [(i, *score_clip(_WORKER["scorers"], _WORKER["groups"], clip)) for i, clip in items]


def score_clips(sources: list[ModelSource], scorers, clips: list[Path], workers: int = 1,
                progress: Callable[[int], None] = lambda _n: None) -> ClipScores:
    """Score every clip with every model: here (workers 1) or spread over `workers` processes, each with its
    own copy of the models on one thread. `progress(n)` is called as n more clips finish."""
    n = len(clips)
    rows: list[list | None] = [None] * n
    errors: dict[int, str] = {}
    silent: set[int] = set()

    def take(i: int, scored, problem, quiet) -> None:
        if problem is not None:
            errors[i] = problem
        else:
            rows[i] = scored
            if quiet:
                silent.add(i)

    if workers <= 1 or n < 2:
        groups = _frontend_groups(scorers)
        for i, clip in enumerate(clips):
            take(i, *score_clip(scorers, groups, clip))
            progress(1)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        one_thread = [ModelSource(s.path, s.frontend, s.labels, 1) for s in sources]
        chunk = max(1, min(16, n // (4 * workers)))
        items = [(i, str(c)) for i, c in enumerate(clips)]
        # spawn, not fork: the parent may hold torch's or an interpreter's threads, which fork does not copy safely
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_start,
                                 initargs=(one_thread,)) as pool:
            futures = [pool.submit(_worker_chunk, items[k : k + chunk]) for k in range(0, n, chunk)]
            try:
                for future in as_completed(futures):
                    done = future.result()
                    for i, scored, problem, quiet in done:
                        take(i, scored, problem, quiet)
                    progress(len(done))
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    readable = np.array([r is not None for r in rows])
    scores = [np.stack([r[m] for r in rows if r is not None]) if readable.any() else np.zeros((0, 0)) for m in range(len(sources))]
    return ClipScores(scores, readable, errors, silent)


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
                             "re-export it with --labels FILE (or pass --labels FILE for a checkpoint)", source.path)
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

