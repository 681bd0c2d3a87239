"""The TFLite target: onnx2tf makes one NHWC SavedModel from the ONNX file, the TFLite converter writes fp32,
fp16 and full int8 from it (see to_tflite.py for why both tools)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeaudio.artifacts import Artifact
from edgeaudio.runtime.formats import FORMATS

from .description import ExportError
from .target import ExportJob, Makes, TargetExporter, in_modules, module_losses

ONNX = Artifact("onnx", "fp32")
TFLITE_FP32 = Artifact("tflite", "fp32")


def check_tflite_ops(path: Path, precision: str, allow_transpose: bool, float_ends: bool = False) -> list[str]:
    """The ops of a written .tflite file; ExportError when it breaks the target's rules: a non-builtin (Flex,
    custom) op, a TRANSPOSE in the body (the layout is settled once at the input), or an int8 model whose input
    and output tensors are not int8 (float, when the model keeps a float region at its ends)."""
    from edgeaudio.runtime.tflite import TFLiteModel

    model = TFLiteModel(path)
    ops = model.ops()
    foreign = sorted({op for op in ops if op.startswith("Flex") or op == "CUSTOM"})
    if foreign:
        raise ExportError(f"the {precision} TFLite graph needs non-builtin ops: {', '.join(foreign)}")
    if not allow_transpose and "TRANSPOSE" in ops:
        raise ExportError(
            f"the {precision} TFLite graph has {ops.count('TRANSPOSE')} TRANSPOSE op(s) in its body; "
            f"the layout should be settled once at the input"
        )
    if precision == "int8":
        ends = [np.dtype(d["dtype"]).name for d in (*model.inputs, *model.outputs)]
        want = "float32" if float_ends else "int8"
        if any(dtype != want for dtype in ends):
            raise ExportError(f"the int8 model's input/output tensors are {ends}, not all {want}")
    return ops


class TFLiteExporter(TargetExporter):
    target = "tflite"
    format = FORMATS["tflite"]
    # fp16 and int8 come from the same SavedModel as fp32, after it: the fp32 file names the layers (layer_names)
    # and holds the float region an int8 file keeps
    makes = (Makes("fp32", ONNX), Makes("fp16", TFLITE_FP32), Makes("int8", TFLITE_FP32, ("minmax", "percentile", "mse")))
    int8_input = True  # full integer: int8 input and output (float ends only for a model with a float region)

    @classmethod
    def calib_methods(cls, precision: str, float_region: bool) -> tuple[str, ...]:
        # percentile and mse ranges go through the converter's calibrated graph, which a float region bypasses
        return ("minmax",) if precision == "int8" and float_region else super().calib_methods(precision, float_region)

    def __init__(self) -> None:
        super().__init__()
        self.saved_model: Path | None = None
        self.fp32: bytes | None = None  # converted first; an int8 with a float region finds that region in it
        self.calibrated: dict[str, bytes] = {}  # the converter's calibrated graph per calibration set (see convert_saved_model)
        self.apart = None  # the conversions' own process (to_tflite.Apart), started with the export

    def start(self, precisions: set[str]) -> None:
        """Every conversion of a started exporter runs in a process of its own (to_tflite.convert_apart says why),
        which imports TensorFlow from now on, while the ONNX file is written."""
        from . import to_tflite

        self.apart = to_tflite.Apart()

    def close(self) -> None:
        if self.apart is not None:
            self.apart.close()
            self.apart = None

    @classmethod
    def tensor_specs(cls, path: Path, description, dynamic_batch: bool) -> tuple[list, list]:
        """(inputs, outputs) as the file itself has them: the converter's layout (NHWC for spectrograms), dtypes,
        and an int8 file's scales and zero points; named as the description names them."""
        from dataclasses import replace

        from edgeaudio.runtime.tflite import TFLiteModel

        inputs, outputs = TFLiteModel(path).file_tensors()
        layout = "NHWC" if len(description.input_shape) == 4 else "NL"
        return ([replace(t, name=description.input_name, layout=layout) for t in inputs],
                [replace(t, name=name, kind=description.output_kind) for t, name in zip(outputs, description.output_names)])

    def preparation(self) -> tuple[str, str]:
        return "onnx2tf", "converting ONNX to an NHWC SavedModel (onnx2tf)"

    def prepare(self, job: ExportJob) -> None:
        from . import to_tflite

        if self.apart is not None:
            self.saved_model = to_tflite.saved_model_apart(job.files[ONNX], job.work, self.apart)
        else:
            self.saved_model = to_tflite.onnx_to_saved_model(job.files[ONNX], job.work)

    def export(self, precision: str, job: ExportJob, calib_method: str | None = None) -> Path:
        from . import to_tflite

        calibration = None
        if precision == "int8":  # in the SavedModel's layout: NHWC for spectrograms, as is for waveforms
            calibration = job.calibration.transpose(0, 2, 3, 1) if job.calibration.ndim == 4 else job.calibration
        float_nodes = tuple(t for t, module in self.layer_names.items() if in_modules(module, job.float_layers))
        if job.float_layers and precision == "int8" and not float_nodes:
            raise ExportError(f"--float-layers {','.join(job.float_layers)}: no TFLite op comes from these modules")
        float_model = self.fp32 if job.float_until else None  # only a float region reads it (47 MB at the VGG-Sound size)
        args = (self.saved_model, precision, calibration, job.float_until, float_model, calib_method or "minmax", float_nodes)
        if self.apart is not None:  # started with an export: in the process of its own, which keeps the calibrated graphs
            flatbuffer = to_tflite.convert_apart(*args, apart=self.apart)
        else:
            flatbuffer = to_tflite.convert_saved_model(*args, self.calibrated)
        self.fp32 = flatbuffer if precision == "fp32" else self.fp32
        path = job.work / self.file_name(job.name, precision)
        path.write_bytes(flatbuffer)
        check_tflite_ops(path, precision, job.allow_transpose, float_ends=bool(job.float_until))
        if precision == "fp32":  # every precision comes from one SavedModel: the same tensor names
            from .layer_names import tflite_layer_names

            sample = job.calibration[:1] if len(job.calibration) else np.zeros(job.description.input_shape, np.float32)
            self.layer_names = tflite_layer_names(job.files[ONNX], path, sample)
        return path

    def layer_losses(self, int8_path: Path, float_path: Path, samples: np.ndarray) -> dict[str, float]:
        from edgeaudio.runtime.diagnosis import per_layer_sqnr

        nhwc = samples.transpose(0, 2, 3, 1) if samples.ndim == 4 else samples
        return module_losses((layer.module, layer.drop_db) for layer in per_layer_sqnr(int8_path, float_path, nhwc, self.layer_names))

    @classmethod
    def step(cls, precision: str) -> str:
        return f"TFLite {precision}"

    def message(self, precision: str, job: ExportJob) -> str:
        calibrating = f" (calibrating on {len(job.calibration)} samples)" if precision == "int8" else ""
        return f"converting to TFLite {precision}{calibrating}"
