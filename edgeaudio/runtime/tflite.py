"""Running a .tflite model with whichever LiteRT interpreter is installed, in float terms.

Interpreters tried in order: ai-edge-litert (LiteRT, the maintained one), tflite-runtime, tensorflow.lite.
Quantized inputs are quantized from float with the input tensor's scale and zero point; quantized outputs are
dequantized, so callers always exchange float32 arrays.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeaudio.errors import InputError
from edgeaudio.quiet import captured_fds

TFLITE_MAGIC = b"TFL3"  # flatbuffer file identifier at bytes 4..8


@dataclass(frozen=True)
class InterpreterInfo:
    """Which interpreter runs the model, for reports."""

    package: str
    version: str


def _interpreter_class():
    for module, package in (
        ("ai_edge_litert.interpreter", "ai-edge-litert"),
        ("tflite_runtime.interpreter", "tflite-runtime"),
        ("tensorflow.lite.python.interpreter", "tensorflow"),
    ):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        try:
            from importlib.metadata import version

            ver = version(package if package != "tensorflow" else "tensorflow-cpu")
        except Exception:
            ver = getattr(mod, "__version__", "unknown")
        return mod.Interpreter, InterpreterInfo(package, ver)
    raise InputError("no TFLite interpreter is installed: pip install ai-edge-litert")


def check_tflite_file(path: str | os.PathLike) -> Path:
    """Refuse, with one line, a path that is not a readable .tflite flatbuffer (before an interpreter sees it)."""
    from edgeaudio.runtime.files import flatbuffer_identifier
    from edgeaudio.runtime.formats import FORMATS

    path, identifier = flatbuffer_identifier(path, FORMATS["tflite"].suffix, "TFLite")
    if identifier != TFLITE_MAGIC:
        raise InputError("is not a TFLite model (no TFL3 identifier)", path)
    return path


class TFLiteModel:
    """A loaded .tflite model. `run` takes and returns float32 arrays in the model's own layout."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, preserve_all_tensors: bool = False):
        self.path = check_tflite_file(path)
        cls, self.interpreter_info = _interpreter_class()
        kwargs = {"model_path": str(self.path), "num_threads": threads}
        if preserve_all_tensors:
            kwargs["experimental_preserve_all_tensors"] = True
        try:
            with captured_fds():  # the interpreter announces its XNNPACK delegate on stderr
                self.interpreter = cls(**kwargs)
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise InputError(f"the TFLite interpreter refused it: {str(exc).splitlines()[0]}", self.path) from None
        self.inputs = self.interpreter.get_input_details()
        self.outputs = self._ordered_outputs()

    def _ordered_outputs(self) -> list[dict]:
        """The output tensors in the model's own order. The converter lists a graph's outputs by tensor name
        (measured: a verb head then a noun head came out noun first), while the serving signature keeps the order
        as output_0, output_1, ...; where the signature says so, its order wins."""
        details = self.interpreter.get_output_details()
        signatures = list(self.interpreter._get_full_signature_list().values())
        named = signatures[0]["outputs"] if len(signatures) == 1 else {}
        ranks = {index: int(name.rsplit("_", 1)[1]) for name, index in named.items()
                 if name.startswith("output_") and name.rsplit("_", 1)[1].isdigit()}
        if len(ranks) != len(details) or set(ranks) != {d["index"] for d in details}:
            return details
        return sorted(details, key=lambda d: ranks[d["index"]])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.inputs[0]["shape"])

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self.inputs[0]["dtype"])

    @property
    def backend(self) -> str:
        return f"{self.interpreter_info.package} {self.interpreter_info.version}"

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """One input sample as PyTorch shapes it: (channels, time frames, mel bins) from the converter's NHWC, or
        (samples,)."""
        shape = self.input_shape
        if len(shape) == 4:
            _, t, f, c = shape
            return c, t, f
        return shape if len(shape) == 1 else shape[1:]  # a rank-1 input is one unbatched waveform

    def from_nchw(self, x: np.ndarray) -> np.ndarray:
        """NCHW float32 in the layout the converter settled on (NHWC for spectrograms), as is otherwise."""
        shape = self.input_shape
        if x.ndim == 4 and len(shape) == 4 and shape[1:] == (x.shape[2], x.shape[3], x.shape[1]) and shape[1:] != x.shape[1:]:
            return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        return x

    def file_tensors(self) -> tuple[list, list]:
        """(inputs, outputs) as the file states them, as manifest TensorSpecs: names, shapes (a dynamic dimension is
        -1), dtypes, and a quantized tensor's scale and zero point."""
        from edgeaudio.runtime.manifest import TensorSpec

        def spec(d: dict) -> TensorSpec:
            dtype = np.dtype(d["dtype"])
            scale, zero_point = d["quantization"]
            quantized = dtype.kind in "iu"
            shape = [int(v) for v in d.get("shape_signature", d["shape"])]
            return TensorSpec(d["name"], shape, dtype.name, None, float(scale) if quantized else None,
                              int(zero_point) if quantized else None)

        return [spec(d) for d in self.inputs], [spec(d) for d in self.outputs]

    def bench_facts(self, batch: int) -> dict:
        """What a benchmark row records of the graph as exported (call before prepared() resizes it): delegate,
        end dtypes, params, MACs at `batch`."""
        from edgeaudio.runtime.graph_counts import tflite_counts

        params, macs = tflite_counts(self.interpreter)
        exported_batch = max(self.input_shape[0], 1)
        delegated = any(op["op_name"] == "DELEGATE" for op in self.interpreter._get_ops_details())
        return {"delegate": "XNNPACK" if delegated else None, "input_dtype": np.dtype(self.inputs[0]["dtype"]).name,
                "output_dtype": np.dtype(self.outputs[0]["dtype"]).name, "params": params, "macs": macs * batch // exported_batch}

    def ops(self) -> list[str]:
        """Builtin op names in execution order (delegate pseudo-nodes left out)."""
        return [op["op_name"] for op in self.interpreter._get_ops_details() if op["op_name"] != "DELEGATE"]

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """Run a batch in the model's input layout, sample by sample if the model has a fixed batch of 1."""
        x = np.asarray(x, dtype=np.float32)
        unbatched = len(self.input_shape) == 1  # a bare waveform input (YAMNet's own TFLite): one window a call
        batch = self.input_shape[0]
        if not unbatched and (batch == x.shape[0] or batch == -1):
            return self._invoke(x)
        rows = [self._invoke(x[i] if unbatched else x[i : i + 1]) for i in range(x.shape[0])]
        return [np.concatenate([r[k] for r in rows]) for k in range(len(self.outputs))]

    def prepared(self, x: np.ndarray):
        """Set `x` (float32, the model's layout) as the input, resizing if needed; return the bare invoke."""
        detail = self.inputs[0]
        if tuple(detail["shape"]) != x.shape:
            self.interpreter.resize_tensor_input(detail["index"], list(x.shape))
            self.interpreter.allocate_tensors()
            self.inputs, self.outputs = self.interpreter.get_input_details(), self._ordered_outputs()
            detail = self.inputs[0]
        self.interpreter.set_tensor(detail["index"], quantize(np.ascontiguousarray(x), detail))
        return self.interpreter.invoke

    def _invoke(self, x: np.ndarray) -> list[np.ndarray]:
        self.prepared(x)()
        return [dequantize(self.interpreter.get_tensor(d["index"]), d) for d in self.outputs]


def quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """float32 -> the tensor's dtype with its (scale, zero point); float tensors pass through."""
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        return x.astype(dtype)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(dtype)


def dequantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """The tensor's values as float32, undoing its (scale, zero point) if it is quantized."""
    if np.dtype(detail["dtype"]).kind == "f":
        return x.astype(np.float32)
    scale, zero_point = detail["quantization"]
    return ((x.astype(np.float32) - zero_point) * scale).astype(np.float32)
