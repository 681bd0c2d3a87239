"""The runtime registry: every model file format the runtime side runs, by name and suffix, with the runtime that
loads it. Code that needs to know a format asks here; nothing else compares suffixes or format names.

Runtime side: importing this module imports no runtime; `ModelFormat.open` imports the one it needs.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

from edgeaudio.errors import InputError


@dataclass(frozen=True)
class ModelFormat:
    """One file format: its name (as manifests and reports spell it), its suffix, and the runtime that runs it.

    `loader` is "module:Class"; the class takes (path, threads, preserve_all_tensors) and offers run, prepared,
    sample_shape, backend and bench_facts (edgeaudio.runtime.runner.LoadedModel says it in code)."""

    name: str
    suffix: str
    runtime: str  # the package a device needs, for messages
    loader: str
    runtime_import: str  # "module" or "module:function" that brings the runtime library itself into memory

    def open(self, path: str | os.PathLike, threads: int | None = None, preserve_all_tensors: bool = False):
        module, _, cls = self.loader.partition(":")
        return getattr(importlib.import_module(module), cls)(path, threads, preserve_all_tensors)

    def import_runtime(self) -> None:
        """Bring the runtime library into memory before a model loads, so a benchmark's "+model MB" is the
        model's own; a missing runtime is left for open() to report with its install line."""
        module, _, function = self.runtime_import.partition(":")
        try:
            loaded = importlib.import_module(module)
            if function:
                getattr(loaded, function)()
        except (ImportError, InputError):
            pass


FORMATS: dict[str, ModelFormat] = {
    f.name: f
    for f in (
        ModelFormat("onnx", ".onnx", "onnxruntime", "edgeaudio.runtime.onnx:OnnxModel", "onnxruntime"),
        ModelFormat("tflite", ".tflite", "ai-edge-litert", "edgeaudio.runtime.tflite:TFLiteModel", "edgeaudio.runtime.tflite:_interpreter_class"),
        ModelFormat("executorch", ".pte", "executorch", "edgeaudio.runtime.executorch:ExecuTorchModel", "edgeaudio.runtime.executorch:_runtime"),
    )
}
EXPORTED_SUFFIXES = tuple(f.suffix for f in FORMATS.values())


def format_named(name: str) -> ModelFormat:
    """The format called `name` ("onnx", "tflite", "executorch"); InputError naming the known ones."""
    try:
        return FORMATS[name]
    except KeyError:
        raise InputError(f"unknown model format {name!r}; one of {', '.join(FORMATS)}") from None


def format_of(path: str | os.PathLike) -> ModelFormat | None:
    """The format a file's suffix names, or None."""
    suffix = Path(path).suffix.lower()
    return next((f for f in FORMATS.values() if f.suffix == suffix), None)


def require_format(path: str | os.PathLike) -> ModelFormat:
    """format_of(path), or InputError naming the file and the suffixes edgeaudio runs."""
    found = format_of(path)
    if found is None:
        suffix = Path(path).suffix.lower() or "(no suffix)"
        raise InputError(f"unknown model type {suffix}; expected {', '.join(EXPORTED_SUFFIXES)}", path)
    return found
