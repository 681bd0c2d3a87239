"""One small interface per export target, as ONNX Runtime's calibrators share one: the pipeline walks the
(target, precision) pairs a user asked for and gates every file the same way, whatever wrote it.

An exporter writes files; it never judges them (that is the parity chain's job, edgeaudio.pipeline.export),
but it does refuse a file that breaks its target's own rules (builtin ops only, say) with an ExportError.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .description import ExportDescription


@dataclass
class ExportJob:
    """What every target's exporter gets for one export.

    `module` is the export-form PyTorch module (eval, one NCHW input); `calibration` float32 samples shaped as
    PyTorch takes them, for int8; `float_until` the TFLite op types an int8 graph keeps float up to (the model
    spec's); `metadata` goes into the files that carry metadata. `files` collects what each exporter wrote, by
    (target, precision): the TFLite target starts from the ONNX file the ONNX target wrote.
    """

    module: Any
    description: ExportDescription
    work: Path
    name: str
    calibration: np.ndarray
    metadata: dict[str, str]
    dynamic_batch: bool = False
    float_until: tuple[str, ...] = ()
    allow_transpose: bool = False
    ranges: str = "minmax"  # how int8 activation ranges come from the calibration: "minmax", "percentile", "mse"
    files: dict[tuple[str, str], Path] = field(default_factory=dict)


class TargetExporter(ABC):
    """Writes one target's files, one precision at a time, in the order the pipeline asks for them."""

    target: str  # "onnx", "tflite"
    precisions: tuple[str, ...]
    needs: tuple[tuple[str, str], ...] = ()  # (target, precision) files this one starts from

    def __init__(self) -> None:
        self.facts: dict = {}  # what the manifest should record about how the files were made
        self.layer_names: dict[str, str] = {}  # tensor names in its files -> the PyTorch module each came from

    def preparation(self) -> tuple[str, str] | None:
        """(stage name, progress message) of work shared by every precision, or None when there is none."""
        return None

    def prepare(self, job: ExportJob) -> None:
        """The shared work preparation() names; run once, before the first export()."""

    @abstractmethod
    def export(self, precision: str, job: ExportJob) -> Path:
        """Write the `precision` file into job.work; return its path."""

    @abstractmethod
    def step(self, precision: str) -> str:
        """The parity chain's name for this file's step, e.g. "TFLite int8"."""

    def message(self, precision: str, job: ExportJob) -> str:
        """The progress line while export() runs."""
        return f"exporting {self.step(precision)}"
