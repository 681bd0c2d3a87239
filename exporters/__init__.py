"""Export targets: a PyTorch module to ONNX, ONNX to TFLite (fp32, fp16, full int8).

Machinery only: what to export (inputs, outputs, names) comes in an ExportDescription from the model side;
whether the result is right is the parity chain's job (edgeaudio.pipeline.export).
"""

from exporters.description import ExportDescription, ExportError

__all__ = ["ExportDescription", "ExportError"]
