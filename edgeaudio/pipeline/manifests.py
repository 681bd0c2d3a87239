"""Building the manifest of each exported file from what the export knows and what the file itself says."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from edgeaudio.hashing import file_sha256
from edgeaudio.runtime.manifest import Manifest, TensorSpec

TOOL_PACKAGES = ("edgeaudio", "torch", "onnx", "onnxruntime", "onnxsim", "onnxscript", "onnx2tf", "tensorflow", "ai-edge-litert")


def tool_versions() -> dict[str, str]:
    """Installed versions of the packages an export runs through."""
    out = {}
    for name in TOOL_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _tflite_specs(path: Path, layout: str, kind: str, output_names) -> tuple[list[TensorSpec], list[TensorSpec]]:
    from edgeaudio.runtime.tflite import TFLiteModel

    model = TFLiteModel(path)

    def spec(detail: dict, name: str, tensor_layout: str | None, tensor_kind: str | None) -> TensorSpec:
        dtype = np.dtype(detail["dtype"])
        scale, zero_point = detail["quantization"]
        quantized = dtype.kind in "iu"
        return TensorSpec(
            name=name,
            shape=[int(d) for d in detail["shape"]],
            dtype=dtype.name,
            layout=tensor_layout,
            scale=float(scale) if quantized else None,
            zero_point=int(zero_point) if quantized else None,
            kind=tensor_kind,
        )

    inputs = [spec(d, "input", layout, None) for d in model.inputs]
    outputs = [spec(d, name, None, kind) for d, name in zip(model.outputs, output_names)]
    return inputs, outputs


@dataclass
class ExportFacts:
    """What every file of one export records alike: the model, its source, how it was exported, the whole parity
    chain, and the expected-outputs file beside it."""

    description: Any  # ExportDescription
    config: dict
    source: dict
    export_options: dict
    parity: list[dict]
    labels: list[str] | None = None
    frontend: dict | None = None
    expected_file: str | None = None
    layer_names: dict | None = None  # per format: tensor name -> PyTorch module (TFLite files)


def build_manifest(path: Path, fmt: str, precision: str, facts: ExportFacts, step, float_model: str | None = None) -> Manifest:
    """The manifest of the exported file at `path` (hashing the file as it is now); `step` is the file's own
    ParityCheck, whose bounds, noise floor and basis its manifest carries for verify to re-apply."""
    description = facts.description
    if fmt == "tflite":
        layout = "NHWC" if len(description.input_shape) == 4 else "NL"
        inputs, outputs = _tflite_specs(path, layout, description.output_kind, description.output_names)
        inputs = [TensorSpec(**{**i.__dict__, "name": description.input_name}) for i in inputs]
    else:
        batch, *sample = description.input_shape
        shape = [-1 if facts.export_options.get("dynamic_batch") else batch, *sample]
        inputs = [TensorSpec(description.input_name, shape, "float32", "NCHW" if len(shape) == 4 else "NL")]
        outputs = [
            TensorSpec(name, [shape[0], n], "float32", None, kind=description.output_kind)
            for name, n in zip(description.output_names, description.num_classes)
        ]
    return Manifest(
        model_file=path.name,
        model_sha256=file_sha256(path),
        format=fmt,
        precision=precision,
        arch=description.arch,
        config=facts.config,
        inputs=inputs,
        outputs=outputs,
        source=facts.source,
        export_options=facts.export_options,
        tools=tool_versions(),
        parity=facts.parity,
        step=step.step,
        bounds={name: b.to_dict() for name, b in step.bounds.items()},
        labels=facts.labels,
        frontend=facts.frontend,
        expected_file=facts.expected_file,
        float_model=float_model,
        noise_floor=dict(step.noise_floor),
        gate_basis=step.basis,
        layer_names=dict((facts.layer_names or {}).get(fmt, {})),
    )
