"""The ONNX target: torch.onnx (dynamo) and onnxsim, fp32. Every other target starts from its file."""

from __future__ import annotations

from pathlib import Path

from .target import ExportJob, TargetExporter


class OnnxExporter(TargetExporter):
    target = "onnx"
    precisions = ("fp32",)

    def export(self, precision: str, job: ExportJob) -> Path:
        from .to_onnx import export_onnx

        path = job.work / f"{job.name}.onnx"
        self.facts = export_onnx(job.module, job.description, path, job.dynamic_batch, job.metadata)
        return path

    def step(self, precision: str) -> str:
        return "ONNX Runtime"

    def message(self, precision: str, job: ExportJob) -> str:
        return "exporting ONNX (torch.onnx dynamo exporter, onnxsim)"
