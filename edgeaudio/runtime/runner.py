"""One way to run any exported model on float32 batches as PyTorch shapes them (NCHW spectrograms or
(N, samples) waveforms), whatever the file's format and layout."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgeaudio.errors import InputError


class Runner:
    """Runs an exported model on (N, C, T, F) or (N, samples) float32; returns float32 outputs in order."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, preserve_all_tensors: bool = False):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix == ".tflite":
            from edgeaudio.runtime.tflite import TFLiteModel

            self.model = TFLiteModel(self.path, threads, preserve_all_tensors)
            self.format = "tflite"
            self.backend = f"{self.model.interpreter_info.package} {self.model.interpreter_info.version}"
        elif suffix == ".onnx":
            from edgeaudio.runtime.onnx import OnnxModel

            self.model = OnnxModel(self.path, threads)
            self.format = "onnx"
            self.backend = f"onnxruntime {self.model.version}"
        elif suffix == ".pte":
            from edgeaudio.runtime.executorch import ExecuTorchModel

            self.model = ExecuTorchModel(self.path, threads)
            self.format = "executorch"
            self.backend = f"executorch {self.model.version}"
        else:
            raise InputError(f"unknown model type {suffix or '(no suffix)'}; expected .tflite, .onnx or .pte", self.path)

    @property
    def input_sample_shape(self) -> tuple[int, ...]:
        """One input sample as PyTorch shapes it: (channels, time frames, mel bins) or (samples,)."""
        if self.format == "tflite":
            shape = tuple(int(d) for d in self.model.input_shape)
            if len(shape) == 4:
                _, t, f, c = shape
                return c, t, f
            return shape if len(shape) == 1 else shape[1:]  # a rank-1 input is one unbatched waveform
        if self.format == "executorch":
            return tuple(self.model.input_shape[1:])
        shape = self.model.session.get_inputs()[0].shape
        return tuple(int(d) for d in shape[1:])

    def prepared(self, x: np.ndarray):
        """Set NCHW float32 `x` as the input once; return a call that runs only the inference (benchmarks)."""
        return self.model.prepared(self._to_model_layout(np.asarray(x, dtype=np.float32)))

    def _to_model_layout(self, x: np.ndarray) -> np.ndarray:
        if self.format != "tflite":
            return x
        shape = self.model.input_shape
        if len(shape) == 4 and shape[1:] == (x.shape[2], x.shape[3], x.shape[1]) and shape[1:] != x.shape[1:]:
            return np.ascontiguousarray(x.transpose(0, 2, 3, 1))  # NCHW -> the NHWC the converter settled on
        return x

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        x = np.asarray(x, dtype=np.float32)
        rank = len(self.input_sample_shape) + 1
        if x.ndim != rank:
            expected = "(N, C, T, F)" if rank == 4 else f"(N, {', '.join(map(str, self.input_sample_shape))})"
            raise InputError(f"inputs must be {expected}, got shape {x.shape}", self.path)
        return self.model.run(self._to_model_layout(x))
