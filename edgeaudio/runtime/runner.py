"""One way to run any exported model on float32 batches as PyTorch shapes them (NCHW spectrograms or
(N, samples) waveforms), whatever the file's format and layout: the format registry (formats.py) says which
runtime loads a file, and each runtime's model class speaks the LoadedModel protocol below."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from edgeaudio.errors import InputError
from edgeaudio.runtime.formats import require_format


class LoadedModel(Protocol):
    """What every runtime's model class offers (TFLiteModel, OnnxModel, ExecuTorchModel)."""

    path: Path

    @property
    def backend(self) -> str:
        """The runtime and its version, for reports: "ai-edge-litert 2.3.0"."""

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """One input sample as PyTorch shapes it: (channels, time frames, mel bins) or (samples,)."""

    def from_nchw(self, x: np.ndarray) -> np.ndarray:
        """A PyTorch-shaped float32 batch in the file's own input layout."""

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """Outputs (float32, in order) of a batch in the file's layout."""

    def prepared(self, x: np.ndarray) -> Callable[[], object]:
        """Set a batch (file's layout) as the input once; return a call that runs only the inference."""

    def bench_facts(self, batch: int) -> dict:
        """delegate, input_dtype, output_dtype, params, macs (at `batch`), and precision where the graph says it."""


class Runner:
    """Runs an exported model on (N, C, T, F) or (N, samples) float32; returns float32 outputs in order."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, preserve_all_tensors: bool = False):
        self.path = Path(path)
        found = require_format(self.path)
        self.model: LoadedModel = found.open(self.path, threads, preserve_all_tensors)
        self.format = found.name
        self.backend = self.model.backend

    @property
    def input_sample_shape(self) -> tuple[int, ...]:
        """One input sample as PyTorch shapes it: (channels, time frames, mel bins) or (samples,)."""
        return self.model.sample_shape

    def prepared(self, x: np.ndarray):
        """Set NCHW float32 `x` as the input once; return a call that runs only the inference (benchmarks)."""
        return self.model.prepared(self.model.from_nchw(np.asarray(x, dtype=np.float32)))

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        x = np.asarray(x, dtype=np.float32)
        rank = len(self.input_sample_shape) + 1
        if x.ndim != rank:
            expected = "(N, C, T, F)" if rank == 4 else f"(N, {', '.join(map(str, self.input_sample_shape))})"
            raise InputError(f"inputs must be {expected}, got shape {x.shape}", self.path)
        return self.model.run(self.model.from_nchw(x))
