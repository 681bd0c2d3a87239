"""The TFLite target: onnx2tf makes one NHWC SavedModel from the ONNX file, the TFLite converter writes fp32,
fp16 and full int8 from it (see to_tflite.py for why both tools)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .description import ExportError
from .target import ExportJob, TargetExporter


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
    precisions = ("fp32", "fp16", "int8")
    needs = (("onnx", "fp32"),)

    def __init__(self) -> None:
        super().__init__()
        self.saved_model: Path | None = None
        self.fp32: bytes | None = None  # converted first; an int8 with a float region finds that region in it

    def preparation(self) -> tuple[str, str]:
        return "onnx2tf", "converting ONNX to an NHWC SavedModel (onnx2tf)"

    def prepare(self, job: ExportJob) -> None:
        from . import to_tflite

        self.saved_model = to_tflite.onnx_to_saved_model(job.files[("onnx", "fp32")], job.work)

    def export(self, precision: str, job: ExportJob) -> Path:
        from . import to_tflite

        calibration = None
        if precision == "int8":  # in the SavedModel's layout: NHWC for spectrograms, as is for waveforms
            calibration = job.calibration.transpose(0, 2, 3, 1) if job.calibration.ndim == 4 else job.calibration
        flatbuffer = to_tflite.convert_saved_model(self.saved_model, precision, calibration, job.float_until, self.fp32, job.ranges)
        if precision == "int8":
            self.facts["int8_ranges"] = job.ranges if not job.float_until else "minmax"
        self.fp32 = flatbuffer if precision == "fp32" else self.fp32
        path = job.work / f"{job.name}_{precision}.tflite"
        path.write_bytes(flatbuffer)
        check_tflite_ops(path, precision, job.allow_transpose, float_ends=bool(job.float_until))
        if precision == "fp32":  # every precision comes from one SavedModel: the same tensor names
            from .layer_names import tflite_layer_names

            sample = job.calibration[:1] if len(job.calibration) else np.zeros(job.description.input_shape, np.float32)
            self.layer_names = tflite_layer_names(job.files[("onnx", "fp32")], path, sample)
        return path

    def step(self, precision: str) -> str:
        return f"TFLite {precision}"

    def message(self, precision: str, job: ExportJob) -> str:
        calibrating = f" (calibrating on {len(job.calibration)} samples)" if precision == "int8" else ""
        return f"converting to TFLite {precision}{calibrating}"
