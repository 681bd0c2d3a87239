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

from edgeaudio.artifacts import Artifact
from edgeaudio.runtime.formats import ModelFormat

from .description import ExportDescription


@dataclass(frozen=True)
class Makes:
    """One precision a target writes: the artifact it starts from (None: the export-form PyTorch module) and,
    for int8, the calibration methods it honours, its default first."""

    precision: str
    starts_from: Artifact | None = None
    calib_methods: tuple[str, ...] = ()


@dataclass
class ExportJob:
    """What every target's exporter gets for one export.

    `module` is the export-form PyTorch module (eval, one NCHW input); `calibration` float32 samples shaped as
    PyTorch takes them, for int8; `float_until` the TFLite op types an int8 graph keeps float up to (the model
    spec's); `metadata` goes into the files that carry metadata. `files` collects what each exporter wrote, by
    Artifact: the TFLite target starts from the ONNX file the ONNX target wrote.
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
    float_layers: tuple[str, ...] = ()  # PyTorch modules (and what is inside them) an int8 file keeps float
    files: dict[Artifact, Path] = field(default_factory=dict)


class TargetExporter(ABC):
    """Writes one target's files, one precision at a time, in the order the export plan asks for them.

    Each exporter declares what it can do: the file format it writes (the runtime registry's entry: suffix and
    the runtime that loads it), and per precision what that file starts from and which calibration methods it
    honours. The plan (plan.py) is made from these declarations alone, before any work."""

    target: str  # "onnx", "tflite", "executorch"
    format: ModelFormat
    makes: tuple[Makes, ...]
    int8_input: bool = False  # its int8 files take int8 input (their input is rounded to a grid), not float

    def __init__(self) -> None:
        self.facts: dict = {}  # what the manifest should record about how the files were made
        self.layer_names: dict[str, str] = {}  # tensor names in its files -> the PyTorch module each came from
        self.prepared = False  # prepare() has run (the pipeline runs it once, before the first export())

    def start(self, precisions: set[str]) -> None:
        """Begin, in the background, what takes long to start and the `precisions` planned will need; called when
        the export begins, before any file is written. close() ends it."""

    def close(self) -> None:
        """End what start() began; called once the export is over, whatever happened."""

    def preparation(self) -> tuple[str, str] | None:
        """(stage name, progress message) of work shared by every precision, or None when there is none."""
        return None

    def prepare(self, job: ExportJob) -> None:
        """The shared work preparation() names; run once, before the first export()."""

    @classmethod
    def precisions(cls) -> tuple[str, ...]:
        return tuple(m.precision for m in cls.makes)

    @classmethod
    def making(cls, precision: str) -> Makes | None:
        return next((m for m in cls.makes if m.precision == precision), None)

    @classmethod
    def calib_methods(cls, precision: str, float_region: bool) -> tuple[str, ...]:
        """The calibration methods the `precision` file honours, its default first; `float_region` says the
        model keeps float ops at its input end (the model spec's int8_float_until)."""
        made = cls.making(precision)
        return made.calib_methods if made else ()

    @classmethod
    def file_name(cls, name: str, precision: str) -> str:
        """The file's name for an export called `name`: NAME_PRECISION.SUFFIX."""
        return f"{name}_{precision}{cls.format.suffix}"

    @classmethod
    def tensor_specs(cls, path: Path, description: ExportDescription, dynamic_batch: bool) -> tuple[list, list]:
        """(inputs, outputs) as the manifest records them (runtime.manifest.TensorSpec): by default PyTorch's
        own float32 NCHW (or (N, samples)) input and float32 outputs, as the description says."""
        from edgeaudio.runtime.manifest import TensorSpec

        batch, *sample = description.input_shape
        shape = [-1 if dynamic_batch else batch, *sample]
        inputs = [TensorSpec(description.input_name, shape, "float32", "NCHW" if len(shape) == 4 else "NL")]
        outputs = [TensorSpec(name, [shape[0], n], "float32", None, kind=description.output_kind)
                   for name, n in zip(description.output_names, description.num_classes)]
        return inputs, outputs

    @abstractmethod
    def layer_losses(self, int8_path: Path, float_path: Path | None, samples: np.ndarray) -> dict[str, float]:
        """SQNR (dB) each PyTorch module loses in the int8 file against its float twin (the target's fp32 file, when
        it writes one first) on `samples` (as PyTorch takes them): the drop from the op's input to its output, summed
        over the module's ops (module_losses). What --float-layers auto ranks layers by."""

    @abstractmethod
    def export(self, precision: str, job: ExportJob, calib_method: str | None = None) -> Path:
        """Write the `precision` file into job.work (int8: with activation ranges by `calib_method`, one of
        calib_methods()); return its path."""

    @classmethod
    @abstractmethod
    def step(cls, precision: str) -> str:
        """The parity chain's name for this file's step, e.g. "TFLite int8"."""

    def message(self, precision: str, job: ExportJob) -> str:
        """The progress line while export() runs."""
        return f"exporting {self.step(precision)}"


def in_modules(module: str | None, names) -> bool:
    """Whether PyTorch module `module` is one of `names` or inside one of them."""
    return bool(module) and any(module == n or module.startswith(n + ".") for n in names)


def module_losses(layers) -> dict[str, float]:
    """(module or None, drop in dB) per op, in graph order -> the positive drops summed per module; an op without
    a module (a softmax outside any layer) counts for the last module before it."""
    losses: dict[str, float] = {}
    last = None
    for module, drop in layers:
        module = module or last
        last = module
        if module and drop is not None and drop > 0:
            losses[module] = losses.get(module, 0.0) + float(drop)
    return losses
