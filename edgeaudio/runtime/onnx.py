"""Running an .onnx model with ONNX Runtime, when it is installed (it is optional on a device)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgeaudio.errors import InputError


class OnnxModel:
    """An ONNX Runtime session on the CPU; `run` takes NCHW float32 and returns the outputs in order."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, preserve_all_tensors: bool = False):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError("no such file" if not self.path.exists() else "is not a file", self.path)
        try:
            import onnxruntime as ort
        except ImportError:
            raise InputError("running .onnx models needs onnxruntime: pip install onnxruntime", self.path) from None
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own exception types for bad files
            raise InputError(f"ONNX Runtime refused it: {str(exc).splitlines()[0]}", self.path) from None
        first = self.session.get_inputs()[0]
        self.input_name = first.name
        self.fixed_batch = first.shape[0] if isinstance(first.shape[0], int) else None
        self.version = ort.__version__

    @property
    def backend(self) -> str:
        return f"onnxruntime {self.version}"

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """One input sample as PyTorch shapes it: (channels, time frames, mel bins) or (samples,)."""
        return tuple(int(d) for d in self.session.get_inputs()[0].shape[1:])

    def from_nchw(self, x: np.ndarray) -> np.ndarray:
        return x  # ONNX files keep PyTorch's layout

    def bench_facts(self, batch: int) -> dict:
        """What a benchmark row records of the graph itself: delegate, end dtypes, params, MACs at `batch`, precision."""
        from edgeaudio.runtime.graph_counts import onnx_counts, onnx_precision

        params, macs = onnx_counts(self.path)
        return {"delegate": None, "input_dtype": "float32", "output_dtype": "float32", "params": params,
                "macs": None if macs is None else macs * batch, "precision": onnx_precision(self.path)}

    def prepared(self, x: np.ndarray):
        """A call that runs only the inference on `x` (NCHW float32, a batch the model accepts)."""
        if self.fixed_batch is not None and self.fixed_batch != len(x):
            raise InputError(f"has a fixed batch of {self.fixed_batch}; export it with --dynamic-batch to run batch {len(x)}", self.path)
        feed = {self.input_name: np.asarray(x, dtype=np.float32)}
        return lambda: self.session.run(None, feed)

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        x = np.asarray(x, dtype=np.float32)
        if self.fixed_batch is None or self.fixed_batch == len(x):
            return [np.asarray(o) for o in self.session.run(None, {self.input_name: x})]
        rows = [self.session.run(None, {self.input_name: x[i : i + 1]}) for i in range(len(x))]
        return [np.concatenate([r[k] for r in rows]) for k in range(len(rows[0]))]
