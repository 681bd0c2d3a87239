"""Building the manifest of each exported file from what the export knows and what the file itself says."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from edgeaudio.hashing import file_sha256
from edgeaudio.runtime.manifest import Manifest

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


def build_manifest(path: Path, exporter, precision: str, facts: ExportFacts, step, float_model: str | None = None,
                   export_options: dict | None = None) -> Manifest:
    """The manifest of the file at `path` that `exporter` (its TargetExporter class) wrote (hashing the file as it
    is now); `step` is the file's own ParityCheck, whose bounds, noise floor and basis its manifest carries for
    verify to re-apply; `export_options` this file's own record of how it was made (default: the export's)."""
    description = facts.description
    inputs, outputs = exporter.tensor_specs(path, description, bool(facts.export_options.get("dynamic_batch")))
    fmt = exporter.format.name
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
        export_options=export_options if export_options is not None else facts.export_options,
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
