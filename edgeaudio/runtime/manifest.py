"""The manifest: a JSON file beside each exported model saying what it is, how to feed it, and what it proved.

Schema "edgeaudio.manifest/1" (one place, this dataclass):
- model_file, model_sha256, format ("onnx" | "tflite"), precision ("fp32" | "fp16" | "int8")
- arch, config: the architecture and its config, as the checkpoint gave them
- inputs / outputs: TensorSpec (name, shape, dtype, layout, and scale + zero_point when quantized; an
  output's `kind` is "probabilities" or "logits")
- labels (class names, or null), frontend (the front-end config that makes the input from audio, or null)
- source: the checkpoint it came from (file name, sha256, form, container)
- export_options, tools (versions), parity (every step of the chain, as ParityCheck dicts)
- step: which step of `parity` is this file's own; bounds: per output, the bounds that step had to meet (verify
  re-applies them)
- noise_floor: per output, the measured floor those bounds were set from (fp32: the original float32 model's
  error against the float64 original; fp16: the fp16-weight model's), in the metric the bound is on; gate_basis
  says how (e.g. "4 x noise floor (stated default), at least 9.5e-07")
- expected_file: .npz beside the model with held-out `inputs` (NCHW float32) and the original PyTorch model's
  outputs for them in float64, so `edgeaudio verify` needs no torch on a device
- float_model: for an int8 model, the fp32 model converted from the same graph (per-layer diagnosis)
- accuracy: with `export --eval`, the file's headline accuracy (top-1 or mAP) on the labelled clips with its 95%
  interval, the checkpoint's, the drop with its paired test, and the gate (edgeaudio.pipeline.evaluate)
- layer_names: for TFLite files, each tensor's PyTorch module (`s4.pathway0_res2.branch2.c`), so a per-layer
  report names what a user can act on
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from edgeaudio.atomic import write_json
from edgeaudio.errors import InputError

SCHEMA = "edgeaudio.manifest/1"


@dataclass
class TensorSpec:
    name: str
    shape: list[int]
    dtype: str
    layout: str | None = None
    scale: float | None = None
    zero_point: int | None = None
    kind: str | None = None


@dataclass
class Manifest:
    model_file: str
    model_sha256: str
    format: str
    precision: str
    arch: str
    config: dict
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    source: dict
    export_options: dict
    tools: dict
    parity: list[dict] = field(default_factory=list)
    step: str = ""  # the name of this file's own step in `parity` (e.g. "TFLite int8")
    bounds: dict = field(default_factory=dict)
    labels: list[str] | None = None
    frontend: dict | None = None
    expected_file: str | None = None
    float_model: str | None = None
    noise_floor: dict = field(default_factory=dict)
    gate_basis: str = ""
    accuracy: dict | None = None  # with export --eval: the file's accuracy on labelled clips against the checkpoint
    layer_names: dict = field(default_factory=dict)  # TFLite tensor name -> the PyTorch module it comes from
    schema: str = SCHEMA

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Manifest":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["inputs"] = [TensorSpec(**t) for t in data.get("inputs", [])]
        values["outputs"] = [TensorSpec(**t) for t in data.get("outputs", [])]
        return cls(**values)

    def write(self, path: str | os.PathLike) -> Path:
        return write_json(path, self.to_dict())


def manifest_path(model_path: str | os.PathLike) -> Path:
    """Where the manifest of `model_path` lives: beside it, `<model file>.manifest.json`."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + ".manifest.json")


def read_manifest(model_path: str | os.PathLike) -> Manifest:
    """The manifest beside `model_path`; InputError naming it if it is missing or unreadable."""
    path = manifest_path(model_path)
    if not path.exists():
        raise InputError(f"has no manifest beside it ({path.name}); export it with edgeaudio export", model_path)
    try:
        data: Any = json.loads(path.read_text())
        if data.get("schema") != SCHEMA:
            raise ValueError(f"schema {data.get('schema')!r} is not {SCHEMA}")
        return Manifest.from_dict(data)
    except (ValueError, TypeError, AttributeError) as exc:
        raise InputError(f"manifest is unreadable: {exc}", path) from None
