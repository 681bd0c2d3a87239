"""The ONNX target: torch.onnx (dynamo) and onnxsim for fp32, which every other target starts from; ONNX
Runtime's static quantization (QDQ) for int8."""

from __future__ import annotations

from pathlib import Path

from .target import ExportJob, TargetExporter


class OnnxExporter(TargetExporter):
    target = "onnx"
    precisions = ("fp32", "int8")

    def export(self, precision: str, job: ExportJob) -> Path:
        if precision == "int8":
            from .to_ort_int8 import quantize_onnx_int8

            path = job.work / f"{job.name}_int8.onnx"
            self.facts["int8"] = quantize_onnx_int8(job.files[("onnx", "fp32")], path, job.calibration, job.float_until, job.ranges)
            return path
        from .to_onnx import export_onnx

        path = job.work / f"{job.name}.onnx"
        self.facts.update(export_onnx(job.module, job.description, path, job.dynamic_batch, job.metadata))
        return path

    def step(self, precision: str) -> str:
        return "ONNX Runtime" if precision == "fp32" else f"ONNX Runtime {precision}"

    def message(self, precision: str, job: ExportJob) -> str:
        if precision == "int8":
            return f"quantizing ONNX to int8 (ONNX Runtime static QDQ, calibrating on {len(job.calibration)} samples)"
        return "exporting ONNX (torch.onnx dynamo exporter, onnxsim)"
