"""Audio in, labels out: WAV clips through the model's own front end (from its manifest) into an exported model.

Runtime side: numpy, the front end and an interpreter; no torch. A clip longer than one model window is cut
into windows; each window gets its top labels, and the clip gets the mean of its windows' probabilities.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

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
    file: str
    seconds: float
    top: list[Scored]
    windows: list[tuple[float, list[Scored]]] = field(default_factory=list)  # (start second, top-k)

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "seconds": round(self.seconds, 3),
            "top": [s.to_dict() for s in self.top],
            "windows": [{"start_s": round(start, 3), "top": [s.to_dict() for s in top]} for start, top in self.windows],
        }


def _probabilities(outputs: np.ndarray, kind: str, head_act: str) -> np.ndarray:
    if kind != "logits":
        return outputs
    if head_act == "sigmoid":
        return 1.0 / (1.0 + np.exp(-outputs))
    shifted = outputs - outputs.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _top(scores: np.ndarray, labels: list[str], k: int) -> list[Scored]:
    order = np.argsort(-scores)[:k]
    return [Scored(labels[i] if i < len(labels) else f"class {i}", int(i), float(scores[i])) for i in order]


class Predictor:
    """An exported model with its manifest's front end and labels, ready for clips."""

    def __init__(self, model_path: str | os.PathLike, threads: int | None = None):
        from edgeaudio.frontend import FrontendConfig

        self.path = Path(model_path)
        self.runner = Runner(self.path, threads)
        self.manifest: Manifest = read_manifest(self.path)
        if not self.manifest.frontend:
            raise InputError("its manifest records no front end; re-export it with --frontend PRESET", self.path)
        self.frontend = FrontendConfig.from_dict(self.manifest.frontend)
        self.labels = list(self.manifest.labels or [])
        self.kind = self.manifest.outputs[0].kind or "probabilities"
        self.head_act = self.manifest.config.get("head_act", "softmax")

    def inputs_for(self, clip: str | os.PathLike) -> tuple[np.ndarray, list[float], float]:
        """Model windows (N, 1, T, F) of a WAV clip, each window's start second, and the clip's duration."""
        from edgeaudio.audio import check_not_silent, load_audio
        from edgeaudio.frontend import clip_to_model_inputs, window_starts

        wave = load_audio(clip, self.frontend.sample_rate)
        check_not_silent(wave, clip)
        windows = clip_to_model_inputs(wave, self.frontend)
        rate = self.frontend.sample_rate
        if self.frontend.kind == "official_logmel":
            starts = [s / rate for s in window_starts(len(wave), self.frontend)][: len(windows)]
        else:
            starts = [i * self.frontend.window_hop_samples / rate for i in range(len(windows))]
        return windows, starts, len(wave) / rate

    def predict(self, clip: str | os.PathLike, top_k: int = 5) -> ClipPrediction:
        windows, starts, seconds = self.inputs_for(clip)
        probs = _probabilities(self.runner.run(windows)[0], self.kind, self.head_act)
        per_window = [(start, _top(p, self.labels, top_k)) for start, p in zip(starts, probs)] if len(probs) > 1 else []
        return ClipPrediction(str(clip), seconds, _top(probs.mean(axis=0), self.labels, top_k), per_window)


def predict_clips(model_path: str | os.PathLike, clips: list[str | os.PathLike], top_k: int = 5, threads: int | None = None) -> list[ClipPrediction]:
    """Top-k labels for each clip (and each window of a long clip)."""
    predictor = Predictor(model_path, threads)
    return [predictor.predict(clip, top_k) for clip in clips]
