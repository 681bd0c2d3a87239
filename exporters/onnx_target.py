"""The ONNX target: torch.onnx (dynamo) and onnxsim for fp32, which every other target starts from; ONNX
Runtime's static quantization (QDQ) for int8."""

from __future__ import annotations

from pathlib import Path

from edgeaudio.artifacts import Artifact
from edgeaudio.runtime.formats import FORMATS

from .target import ExportJob, Makes, TargetExporter, module_losses

ONNX = Artifact("onnx", "fp32")


class OnnxExporter(TargetExporter):
    target = "onnx"
    format = FORMATS["onnx"]
    # ONNX Runtime's calibrators: MinMax and Percentile (it has no MSE one)
    makes = (Makes("fp32"), Makes("int8", ONNX, ("minmax", "percentile")))

    @classmethod
    def file_name(cls, name: str, precision: str) -> str:
        return f"{name}.onnx" if precision == "fp32" else super().file_name(name, precision)

    def export(self, precision: str, job: ExportJob, calib_method: str | None = None) -> Path:
        path = job.work / self.file_name(job.name, precision)
        if precision == "int8":
            from .to_ort_int8 import quantize_onnx_int8

            self.facts["int8"] = quantize_onnx_int8(job.files[ONNX], path, job.calibration, job.float_until, calib_method or "minmax",
                                                    job.float_layers)
            return path
        from .to_onnx import export_onnx

        self.facts.update(export_onnx(job.module, job.description, path, job.dynamic_batch, job.metadata))
        return path

    def layer_losses(self, int8_path: Path, float_path: Path, samples) -> dict[str, float]:
        from .to_ort_int8 import layer_losses

        return module_losses(layer_losses(int8_path, float_path, samples))

    @classmethod
    def step(cls, precision: str) -> str:
        return "ONNX Runtime" if precision == "fp32" else f"ONNX Runtime {precision}"

    def message(self, precision: str, job: ExportJob) -> str:
        if precision == "int8":
            return f"quantizing ONNX to int8 (ONNX Runtime static QDQ, calibrating on {len(job.calibration)} samples)"
        return "exporting ONNX (torch.onnx dynamo exporter, onnxsim)"
