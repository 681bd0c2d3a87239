"""Accuracy against labels, with the uncertainty the number of clips leaves. numpy only: runs on a device too.

Single-label (softmax heads): top-1 and top-5 accuracy, balanced accuracy (the mean of per-class recall over
the classes the data holds), per-class recall, the confusion matrix. Multi-label (sigmoid heads): per-class
average precision and their macro mean (mAP) over the classes the data holds a positive of, as FSD50K and LEAN
report it. AP is the area under the step-wise precision-recall curve, tied scores taken together as one
threshold (what sklearn's average_precision_score computes).

Every metric comes with a 95% bootstrap interval: clips resampled with replacement (BOOTSTRAP times, seeded),
the same resamples for every model, so a difference between two models is judged on paired draws. Whether a
model is really worse than its reference on the same clips is a paired test: the exact one-sided McNemar test
on the clips where their top-1 answers differ in correctness (single-label), or the share of paired bootstrap
draws in which the model is not worse (multi-label mAP).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from edgeaudio.parity import mcnemar_worse

BOOTSTRAP = 1000
CONFIDENCE = 0.95
SEED = 0
_CHUNK = 100  # bootstrap draws computed at once (memory: draws x clips floats)


@dataclass(frozen=True)
class Estimate:
    """A metric's value on the clips, and its 95% bootstrap interval."""

    value: float
    low: float
    high: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Paired:
    """A model against the reference on the same clips, in the headline metric: the drop (reference minus model,
    so positive is worse) with its paired bootstrap interval, and the one-sided p-value that the model is worse.
    `lost`/`gained` (single-label) count clips the reference got right and the model wrong, and the reverse."""

    drop: float
    low: float
    high: float
    p_worse: float
    test: str
    lost: int | None = None
    gained: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def resamples(n: int, draws: int = BOOTSTRAP, seed: int = SEED):
    """Bootstrap draws as per-clip weights (how often each clip was drawn), in chunks of (k, n) arrays."""
    rng = np.random.default_rng(seed)
    done = 0
    while done < draws:
        k = min(_CHUNK, draws - done)
        yield rng.multinomial(n, np.full(n, 1.0 / n), size=k).astype(np.float64)
        done += k


def _interval(values: np.ndarray) -> tuple[float, float]:
    tail = (1 - CONFIDENCE) / 2 * 100
    finite = values[np.isfinite(values)]
    if not len(finite):
        return math.nan, math.nan
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


# -- single-label ----------------------------------------------------------------------------------------------


def top_k_hits(scores: np.ndarray, truth: np.ndarray, k: int) -> np.ndarray:
    """Per clip, whether the true class is among the `k` highest scores (ties broken in class order, as predict
    ranks them)."""
    k = min(k, scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.any(order == truth[:, None], axis=1)


def balanced_accuracy(predicted: np.ndarray, truth: np.ndarray, classes: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Mean recall over the classes present, per row of `weights` ((k, n) bootstrap weights), or once when None."""
    w = np.ones((1, len(truth))) if weights is None else weights
    right = (predicted == truth).astype(np.float64)
    present = np.zeros((len(w), classes))
    hit = np.zeros((len(w), classes))
    for c in np.unique(truth):  # per class: a weighted count of its clips and of those predicted right
        mask = truth == c
        present[:, c] = w[:, mask].sum(axis=1)
        hit[:, c] = (w[:, mask] * right[mask]).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(present > 0, hit / np.where(present > 0, present, 1), np.nan)
    return np.nanmean(recall, axis=1)


def per_class_recall(predicted: np.ndarray, truth: np.ndarray, classes: int) -> list[float | None]:
    """Recall of every class (None for a class the data holds no clip of)."""
    out: list[float | None] = []
    for c in range(classes):
        mask = truth == c
        out.append(float(np.mean(predicted[mask] == c)) if mask.any() else None)
    return out


def confusion_matrix(predicted: np.ndarray, truth: np.ndarray, classes: int) -> np.ndarray:
    """(classes, classes) counts: row = true class, column = predicted class."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


@dataclass
class SingleLabelResult:
    top1: Estimate
    top5: Estimate
    balanced: Estimate
    recall: list[float | None]
    confusion: np.ndarray
    correct: np.ndarray  # per clip, top-1 right
    boot_top1: np.ndarray  # per bootstrap draw, for paired comparisons


def single_label(scores: np.ndarray, truth: np.ndarray, draws: int = BOOTSTRAP) -> SingleLabelResult:
    """Top-1, top-5 and balanced accuracy with bootstrap intervals, per-class recall and the confusion matrix of
    (clips, classes) `scores` against integer `truth`."""
    classes = scores.shape[1]
    predicted = np.argsort(-scores, axis=1, kind="stable")[:, 0]
    correct = predicted == truth
    in_top5 = top_k_hits(scores, truth, 5)
    boot1, boot5, boot_bal = [], [], []
    for w in resamples(len(truth), draws):
        total = w.sum(axis=1)
        boot1.append(w @ correct / total)
        boot5.append(w @ in_top5 / total)
        boot_bal.append(balanced_accuracy(predicted, truth, classes, w))
    b1, b5, bb = (np.concatenate(b) for b in (boot1, boot5, boot_bal))
    balanced = float(balanced_accuracy(predicted, truth, classes)[0])
    return SingleLabelResult(
        Estimate(float(correct.mean()), *_interval(b1)),
        Estimate(float(in_top5.mean()), *_interval(b5)),
        Estimate(balanced, *_interval(bb)),
        per_class_recall(predicted, truth, classes),
        confusion_matrix(predicted, truth, classes),
        correct,
        b1,
    )


def compare_single_label(reference: SingleLabelResult, model: SingleLabelResult) -> Paired:
    """The model's top-1 drop against the reference on the same clips: paired bootstrap interval, exact McNemar."""
    lost = int(np.sum(reference.correct & ~model.correct))
    gained = int(np.sum(~reference.correct & model.correct))
    drop = float(reference.correct.mean() - model.correct.mean())
    low, high = _interval(reference.boot_top1 - model.boot_top1)
    return Paired(drop, low, high, mcnemar_worse(lost, gained), "exact McNemar, one-sided", lost, gained)


# -- multi-label -----------------------------------------------------------------------------------------------


def _sorted_groups(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order that sorts `scores` descending, index of the last element of each run of tied scores in it)."""
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    ends = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    return order, ends


def average_precision(scores: np.ndarray, positive: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """AP of one class: `scores` and boolean `positive` per clip; per row of `weights` ((k, n) bootstrap weights),
    or once. Tied scores form one threshold. NaN where a row holds no positive."""
    w = np.ones((1, len(scores))) if weights is None else weights
    order, ends = _sorted_groups(scores)
    ws = w[:, order]
    pos = positive[order].astype(np.float64)
    true_pos = np.cumsum(ws * pos, axis=1)[:, ends]
    seen = np.cumsum(ws, axis=1)[:, ends]
    gained = np.diff(true_pos, axis=1, prepend=0.0)  # recall mass each threshold adds
    total = true_pos[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(seen > 0, true_pos / np.where(seen > 0, seen, 1), 0.0)
        return np.where(total > 0, (gained * precision).sum(axis=1) / np.where(total > 0, total, 1), np.nan)


@dataclass
class MultiLabelResult:
    mean_ap: Estimate
    ap: list[float | None]  # per class; None where the data holds no positive
    boot_map: np.ndarray


def multi_label(scores: np.ndarray, positives: np.ndarray, draws: int = BOOTSTRAP) -> MultiLabelResult:
    """Macro mAP with its bootstrap interval and per-class AP of (clips, classes) `scores` against boolean
    (clips, classes) `positives`, over the classes that have a positive."""
    classes = [c for c in range(scores.shape[1]) if positives[:, c].any()]
    ap: list[float | None] = [None] * scores.shape[1]
    for c in classes:
        ap[c] = float(average_precision(scores[:, c], positives[:, c])[0])
    boot = []
    for w in resamples(len(scores), draws):
        per_class = np.stack([average_precision(scores[:, c], positives[:, c], w) for c in classes], axis=1)
        boot.append(np.nanmean(per_class, axis=1))  # a class with no positive in a draw has no AP there
    boot_map = np.concatenate(boot)
    value = float(np.mean([ap[c] for c in classes])) if classes else math.nan
    return MultiLabelResult(Estimate(value, *_interval(boot_map)), ap, boot_map)


def compare_multi_label(reference: MultiLabelResult, model: MultiLabelResult) -> Paired:
    """The model's mAP drop against the reference: paired bootstrap interval, and the share of paired draws in
    which the model is not worse (+1 smoothed) as the one-sided p-value."""
    diff = reference.boot_map - model.boot_map
    low, high = _interval(diff)
    finite = diff[np.isfinite(diff)]
    p = (np.sum(finite <= 0) + 1) / (len(finite) + 1)
    return Paired(reference.mean_ap.value - model.mean_ap.value, low, high, float(p), "paired bootstrap, one-sided")
