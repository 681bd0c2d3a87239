"""Staging and committing an export's files: every file is written into a temporary folder inside the output
folder, its manifest and the expected outputs beside it, and all of them are moved into place only when every
gate passed (or the user allowed a mismatch), models last, so a failed or interrupted export leaves no model
behind and a manifest never points at a missing file."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from edgeaudio.artifacts import Artifact
from edgeaudio.errors import OutputPathError
from edgeaudio.pipeline.gates import ABSOLUTE_FLOOR


@dataclass
class Built:
    """One file of the plan as written into the staging folder, with the exporter that wrote it and its gate."""

    path: Path
    planned: object  # PlannedArtifact
    exporter: type  # TargetExporter class
    check: object  # ParityCheck
    calib_method: str | None = None  # int8: the range method the file was made with
    tries: list = field(default_factory=list)  # CalibrationTry, when --calib-method auto tried several
    input_rounding: object = None  # InputRounding (calibration_choice.py), when an int8 file with int8 input failed
    float_layers: tuple[str, ...] = ()  # int8: the PyTorch modules the file keeps float
    float_choice: object = None  # FloatLayersChoice (float_layers.py), when --float-layers auto searched

    def tried(self) -> str:
        return "; ".join(t.summary() for t in self.tries)

    @property
    def artifact(self):
        return self.planned.artifact


@dataclass
class ExportedModel:
    path: str
    format: str
    precision: str
    size_bytes: int
    sha256: str
    manifest: str

    @property
    def artifact(self) -> Artifact:
        return Artifact(self.format, self.precision)

    def to_dict(self) -> dict:
        return {**asdict(self), "artifact": self.artifact.name}


def output_dir(checkpoint: Path, out_dir: str | os.PathLike | None) -> Path:
    """The export's folder (default: beside the checkpoint, NAME_export/); OutputPathError when it cannot be one."""
    out = Path(out_dir) if out_dir is not None else checkpoint.with_name(checkpoint.stem + "_export")
    if out.exists() and not out.is_dir():
        raise OutputPathError("exists and is not a folder; -o takes a folder", out)
    parent = out if out.exists() else out.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise OutputPathError(f"cannot write here: folder {parent} is not writable", out)
    return out


@contextlib.contextmanager
def staging(out: Path) -> Iterator[Path]:
    """A temporary folder inside `out` (created), removed with whatever is left in it however the block ends."""
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".edgeaudio-export-", dir=out))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def recorded_options(options, source, built: Built | None, target_facts: dict) -> dict:
    """How the files were made, as a manifest records it; `built` names the file whose record this is (its own
    calibration method), None for the export as a whole."""
    data = source.data
    recorded = {
        "target": options.target,
        "precision": options.precision,
        "files": [a.name for a in source.plan.artifacts],
        "output": source.description.output_kind,
        "folded": options.fold,
        "equalized": options.equalize,
        "calib_method": None if built is None else built.calib_method,  # this file's int8 ranges; None when float
        "calib_selection": None if built is None else built.planned.calib_method,  # what was asked: "auto" tries in turn
        "calib_tries": [] if built is None else [t.to_dict() for t in built.tries],  # judged on calibration samples
        "float_layers": [] if built is None else list(built.float_layers),  # PyTorch modules this int8 file keeps float
        "float_layers_asked": options.float_layers if isinstance(options.float_layers, str) else list(options.float_layers),
        "float_layer_search": None if built is None or built.float_choice is None else built.float_choice.to_dict(),
        "dynamic_batch": options.dynamic_batch,
        "calibration": "synthetic" if data.source == "synthetic" else str(options.calib),
        "calibration_kind": data.kind,
        "calibration_skipped": list(data.skipped),  # audio files left out (silent, unreadable), and why
        "float_gate": {"factor": options.factor, "absolute_floor": ABSOLUTE_FLOOR, "set_by_user": options.float_factor is not None},
        **target_facts,  # what each target's exporter recorded, under its name ("onnx", "executorch")
    }
    float_until = source.loaded.spec.int8_float_until
    if float_until and source.plan.makes("int8"):
        recorded["int8_float_until"] = list(float_until)  # kept float in the int8 file, and why: the spec's docs
    return recorded


def stage_outputs(work: Path, built: list[Built], facts, held: np.ndarray, reference: dict, records: dict) -> None:
    """Write the expected outputs and every built file's manifest beside the files in `work`; `records` holds
    each file's own export_options record, by artifact."""
    from edgeaudio.atomic import atomic_path
    from edgeaudio.pipeline.manifests import build_manifest
    from edgeaudio.runtime.manifest import manifest_path

    with atomic_path(work / facts.expected_file) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, inputs=held, **{f"reference/{k}": v for k, v in reference.items()})
    float_twin = {b.artifact.target: b.path.name for b in built if b.artifact.precision == "fp32"}  # an int8 file's fp32 twin
    for b in built:  # each file's manifest carries its own step's bounds and floor
        twin = float_twin.get(b.artifact.target) if b.artifact.precision == "int8" else None
        build_manifest(b.path, b.exporter, b.artifact.precision, facts, b.check, twin, records[b.artifact]).write(manifest_path(b.path))


def commit_outputs(work: Path, out: Path, built: list[Built], expected_file: str) -> list[ExportedModel]:
    """Move what stage_outputs wrote into `out`, models last."""
    from edgeaudio.hashing import file_sha256
    from edgeaudio.runtime.manifest import manifest_path

    os.replace(work / expected_file, out / expected_file)
    models = []
    for b in built:
        final = out / b.path.name
        os.replace(manifest_path(b.path), manifest_path(final))
        os.replace(b.path, final)
        models.append(ExportedModel(str(final), b.exporter.format.name, b.artifact.precision, final.stat().st_size,
                                    file_sha256(final), str(manifest_path(final))))
    return models
