"""Audio in, labels out: clips through the model's own front end (from its manifest) into an exported model.

Runtime side: numpy, the audio libraries, the front end and an interpreter; no torch. A clip longer than one
model window is cut into windows; each window gets its top labels, and the clip gets the mean of its windows'
probabilities. Clips are read as streams (edgeaudio.pipeline.clip_stream): an hours-long recording costs the
memory of a few windows. A batch never stops at a bad clip: each clip gives one result, a prediction or the reason it
could not be read, in the order the clips were named.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from edgeaudio.errors import InputError
from edgeaudio.runtime.manifest import Manifest, read_manifest
from edgeaudio.runtime.runner import Runner


@dataclass
class Scored:
    label: str
    index: int
    score: float

    def to_dict(self) -> dict:
        return {"label": self.label, "index": self.index, "score": round(self.score, 6)}


@dataclass
class ClipPrediction:
    """One clip's result: its top labels, or `error` (why it could not be read) with no labels.

    `silent` says why a clip that was predicted holds no sound (its labels mean little), None when it does.
    """

    file: str
    seconds: float = 0.0
    top: list[Scored] = field(default_factory=list)
    windows: list[tuple[float, list[Scored]]] = field(default_factory=list)  # (start second, top-k)
    silent: str | None = None
    error: str | None = None

    @property
    def status(self) -> str:
        return "error" if self.error else "silent" if self.silent else "ok"

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "top": [s.to_dict() for s in self.top],
            "windows": [{"start_s": round(start, 3), "top": [s.to_dict() for s in top]} for start, top in self.windows],
            "silent": self.silent,
            "error": self.error,
        }


def probabilities(outputs: np.ndarray, kind: str, head_act: str) -> np.ndarray:
    """Class probabilities (N, classes) from a model's outputs: softmax or sigmoid of logits, as the head has."""
    if kind != "logits":
        return outputs
    if head_act == "sigmoid":
        return 1.0 / (1.0 + np.exp(-outputs))
    shifted = outputs - outputs.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def top_scores(scores: np.ndarray, labels: list[str], k: int) -> list[Scored]:
    """The k best classes of one row of scores, named by `labels` ("class i" beyond them)."""
    order = np.argsort(-scores, kind="stable")[:k]  # ties in the same order on every platform
    return [Scored(labels[i] if i < len(labels) else f"class {i}", int(i), float(scores[i])) for i in order]


class Predictor:
    """An exported model with its manifest's front end and labels, ready for clips; `labels` name its classes
    instead (for a file exported without --labels), as they do for a checkpoint."""

    def __init__(self, model_path: str | os.PathLike, threads: int | None = None, labels: list[str] | None = None):
        from edgeaudio.frontend import FrontendConfig

        self.path = Path(model_path)
        self.runner = Runner(self.path, threads)
        self.manifest: Manifest = read_manifest(self.path)
        if not self.manifest.frontend:
            raise InputError("its manifest records no front end; re-export it with --frontend PRESET", self.path)
        self.frontend = FrontendConfig.from_dict(self.manifest.frontend)
        self.labels = list(labels) if labels is not None else list(self.manifest.labels or [])
        classes = self.manifest.outputs[0].shape[-1]
        if labels is not None and len(self.labels) != classes:
            raise InputError(f"{len(self.labels)} labels given for a model with {classes} classes", self.path)
        self.kind = self.manifest.outputs[0].kind or "probabilities"
        self.head_act = self.manifest.config.get("head_act", "softmax")

    def window_probabilities(self, windows: np.ndarray) -> np.ndarray:
        """Class probabilities (windows, classes) of model windows, run in one call."""
        return probabilities(self.runner.run(windows)[0], self.kind, self.head_act)

    def describe(self) -> tuple[str, str, str]:
        """(format, precision, backend) for reports."""
        return self.manifest.format, self.manifest.precision, self.runner.backend

    def inputs_for(self, clip: str | os.PathLike) -> tuple[np.ndarray, list[float], float]:
        """Model windows (N, 1, T, F) of a clip, each window's start second, and the clip's duration."""
        from edgeaudio.pipeline.clip_stream import file_windows

        windows, starts, stream = file_windows(clip, self.frontend)
        return windows, starts, stream.seconds

    def predict(self, clip: str | os.PathLike, top_k: int = 5) -> ClipPrediction:
        """One clip's prediction, read as a stream (memory does not grow with its length); AudioFormatError when
        it cannot be read. A silent clip is predicted and flagged."""
        from edgeaudio.pipeline.clip_stream import ClipStream

        stream = ClipStream.of_file(clip, self.frontend)
        tally = ClipTally(self.labels, top_k)
        for windows, starts in stream.batches():
            tally.add(self.window_probabilities(windows), starts)
        return ClipPrediction(str(clip), stream.seconds, tally.top(), tally.per_window(), stream.silent())

    def predict_or_error(self, clip: str | os.PathLike, top_k: int = 5) -> ClipPrediction:
        """predict(), with a clip that cannot be read turned into its error row."""
        from edgeaudio.audio import AudioFormatError

        try:
            return self.predict(clip, top_k)
        except AudioFormatError as exc:
            return ClipPrediction(str(clip), error=exc.problem)


class ClipTally:
    """A clip's window probabilities added up as batches arrive: the clip's top labels from their mean, and
    each window's own top labels (kept only when the clip has several windows)."""

    def __init__(self, labels: list[str], top_k: int):
        self.labels, self.top_k = labels, top_k
        self.sums: np.ndarray | None = None
        self.count = 0
        self.windows: list[tuple[float, list[Scored]]] = []

    def add(self, probs: np.ndarray, starts: list[float]) -> None:
        total = probs.astype(np.float64).sum(axis=0)
        self.sums = total if self.sums is None else self.sums + total
        self.count += len(probs)
        self.windows += [(start, top_scores(p, self.labels, self.top_k)) for start, p in zip(starts, probs)]

    def mean(self) -> np.ndarray:
        return (self.sums / max(self.count, 1)).astype(np.float32)

    def top(self) -> list[Scored]:
        return top_scores(self.mean(), self.labels, self.top_k) if self.count else []

    def per_window(self) -> list[tuple[float, list[Scored]]]:
        return self.windows if self.count > 1 else []


@dataclass
class BatchSummary:
    clips: int = 0
    failed: int = 0
    silent: int = 0
    seconds_of_audio: float = 0.0
    wall_seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"clips": self.clips, "failed": self.failed, "silent": self.silent,
                "seconds_of_audio": round(self.seconds_of_audio, 3), "wall_seconds": round(self.wall_seconds, 3)}

    def add(self, p: ClipPrediction) -> None:
        self.clips += 1
        self.failed += p.error is not None
        self.silent += p.silent is not None
        self.seconds_of_audio += p.seconds


def predict_stream(predictor: Predictor, clips: list[str | os.PathLike], top_k: int = 5,
                   summary: BatchSummary | None = None) -> Iterator[ClipPrediction]:
    """Each clip's result as it finishes, in order; `summary` (when given) is kept up to date."""
    start = time.perf_counter()
    for clip in clips:
        result = predictor.predict_or_error(clip, top_k)
        if summary is not None:
            summary.add(result)
            summary.wall_seconds = time.perf_counter() - start
        yield result


def predict_clips(model_path: str | os.PathLike, clips: list[str | os.PathLike], top_k: int = 5,
                  threads: int | None = None) -> list[ClipPrediction]:
    """Top-k labels for each clip (and each window of a long clip); files and folders (walked for audio)."""
    from edgeaudio.audio import audio_files

    return list(predict_stream(Predictor(model_path, threads), audio_files(clips), top_k))
