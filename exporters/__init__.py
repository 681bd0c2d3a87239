"""edgeaudio.exporters: export targets, each behind one small interface (target.py), and their machinery.

- onnx_target.py / to_onnx.py: a PyTorch module to ONNX (torch.onnx dynamo exporter, onnxsim);
- plan.py: the export plan, from what each exporter declares it makes (target.py's Makes);
- tflite_target.py / to_tflite.py: ONNX to TFLite fp32, fp16, full int8 (onnx2tf, the TFLite converter);
- to_ort_int8.py: ONNX fp32 to ONNX int8 (ONNX Runtime's static QDQ quantization);
- executorch_target.py: a PyTorch module to an ExecuTorch .pte (XNNPACK delegate), fp32 and PT2E int8.

Machinery only: what to export (inputs, outputs, names) comes in an ExportDescription from the model side;
whether the result is right is the parity chain's job (edgeaudio.pipeline.export). The folder sits at the top
of the checkout and installs as edgeaudio.exporters (pyproject's package-dir): a top-level `exporters` would
collide with an unrelated package of that name.
"""

if __name__ == "exporters":  # run from the checkout's root, the folder is on sys.path under its own name
    raise ImportError("this folder is edgeaudio.exporters; import it as that (a top-level `exporters` is another project)")

from .description import ExportDescription, ExportError
from .executorch_target import ExecuTorchExporter
from .onnx_target import OnnxExporter
from .target import ExportJob, Makes, TargetExporter
from .tflite_target import TFLiteExporter

EXPORTERS: dict[str, type[TargetExporter]] = {e.target: e for e in (OnnxExporter, TFLiteExporter, ExecuTorchExporter)}

from .plan import CALIB_METHODS, ExportPlan, PlannedArtifact, exporter_for, plan_export  # noqa: E402  (reads EXPORTERS)

__all__ = ["CALIB_METHODS", "EXPORTERS", "ExecuTorchExporter", "ExportDescription", "ExportError", "ExportJob", "ExportPlan",
           "Makes", "OnnxExporter", "PlannedArtifact", "TFLiteExporter", "TargetExporter", "exporter_for", "plan_export"]
