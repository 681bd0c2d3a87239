"""Benchmark exported models (or export a checkpoint to every format first) and compare them side by side.

Each model runs in its own fresh process (edgeaudio.runtime.bench). Speed-ups are ratios against PyTorch eager
measured in the same run on the same machine, never against numbers from elsewhere.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from edgeaudio.errors import InputError
from edgeaudio.runtime.bench import MODEL_SUFFIXES, BenchRow, MachineInfo, bench_in_child, machine_info, measure
from edgeaudio.runtime.graph_counts import GRAPH_COUNTING_RULE

FORMATS = ("torch", "onnx", "onnx-int8", "tflite-fp32", "tflite-fp16", "tflite-int8", "executorch-fp32", "executorch-int8")
BASELINE = "torch"


@dataclass
class BenchReport:
    machine: MachineInfo
    rows: list[BenchRow]
    settings: dict
    counting_rule: str = GRAPH_COUNTING_RULE
    notes: list[str] = field(default_factory=list)

    def speedups(self) -> dict[int, float]:
        """Row index -> p50 speed-up over the unfolded PyTorch eager row of the same batch and threads."""
        base = {(r.batch, r.threads): r.p50_ms for r in self.rows if r.label == BASELINE}
        return {i: base[(r.batch, r.threads)] / r.p50_ms for i, r in enumerate(self.rows) if (r.batch, r.threads) in base}

    def to_dict(self) -> dict:
        ratios = self.speedups()
        rows = [{**r.to_dict(), "speedup_vs_torch": ratios.get(i)} for i, r in enumerate(self.rows)]
        return {"schema": "edgeaudio.bench/1", "machine": self.machine.to_dict(), "settings": self.settings,
                "counting_rule": self.counting_rule, "notes": self.notes, "rows": rows}


def find_models(folder: str | os.PathLike = ".") -> list[Path]:
    """Exported models with a manifest beside them, in `folder`."""
    from edgeaudio.runtime.manifest import manifest_path

    found = sorted(p for p in Path(folder).iterdir() if p.suffix in (".tflite", ".onnx", ".pte") and manifest_path(p).exists())
    if not found:
        raise InputError("holds no exported models with manifests (.tflite or .onnx); give model paths", Path(folder).resolve())
    return found


def _precision_of(path: Path) -> str | None:
    from edgeaudio.runtime.manifest import manifest_path, read_manifest

    return read_manifest(path).precision if manifest_path(path).exists() else None


@dataclass(frozen=True)
class BenchEntry:
    """One model to benchmark: a file, the name it gets in the table, and (checkpoints) whether to fold it."""

    path: str
    label: str | None = None
    fold: bool = False


def bench_models(
    entries: list[BenchEntry],
    threads: list[int | None] | None = None,
    batches: list[int] | None = None,
    runs: int = 50,
    warmup: int = 10,
    duration: float | None = None,
    data: str | None = None,
    progress: Callable[[str], None] = lambda _m: None,
    in_process: bool = False,
) -> BenchReport:
    """One row per (model, threads, batch), each measured in a fresh process (or in this one when
    `in_process`: no isolation, for emulators such as qemu-user that cannot start child processes)."""
    for entry in entries:
        path = Path(entry.path)
        if not path.exists():
            raise InputError("no such file", path)
        if path.suffix.lower() not in MODEL_SUFFIXES:
            raise InputError(f"is not a model edgeaudio benchmarks ({', '.join(MODEL_SUFFIXES)})", path)
    rows = []
    for entry in entries:
        path = Path(entry.path)
        for thread_count in threads or [None]:
            for batch in batches or [1]:
                progress(f"benchmarking {entry.label or path.name} (threads {thread_count or 'default'}, batch {batch})")
                spec = {"path": str(path), "threads": thread_count, "batch": batch, "runs": runs, "warmup": warmup,
                        "duration": duration, "data": data, "label": entry.label, "precision": _precision_of(path),
                        "fold": entry.fold}
                rows.append(BenchRow(**measure(spec)) if in_process else bench_in_child(spec))
    settings = {"runs": runs, "warmup": warmup, "duration_s": duration, "threads": threads, "batches": batches or [1],
                "isolation": "this process" if in_process else "a fresh process per row"}
    return BenchReport(machine_info(), rows, settings)


def _file_of(name: str) -> tuple[str, str]:
    """A --formats name as the (target, precision) file it asks the export for: "onnx" -> ("onnx", "fp32")."""
    target, _, precision = name.partition("-")
    return target, precision or "fp32"


def _format_name(target: str, precision: str) -> str:
    return target if (target, precision) == ("onnx", "fp32") else f"{target}-{precision}"


def bench_checkpoint(
    checkpoint: str | os.PathLike,
    formats: list[str],
    calib: str | None = None,
    threads: list[int | None] | None = None,
    batches: list[int] | None = None,
    runs: int = 50,
    warmup: int = 10,
    duration: float | None = None,
    out_dir: str | os.PathLike | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> BenchReport:
    """Export `checkpoint` to each of `formats` (folded; PyTorch eager both unfolded and folded) and bench all."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise InputError(f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    from edgeaudio.pipeline.export import ExportOptions, export_checkpoint

    checkpoint = Path(checkpoint)
    work = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="edgeaudio-bench-"))
    entries: list[BenchEntry] = []
    notes = []
    if "torch" in formats:
        entries += [BenchEntry(str(checkpoint), BASELINE), BenchEntry(str(checkpoint), "torch-folded", fold=True)]
    files = [_file_of(f) for f in formats if f != "torch"]
    if files:
        if any(p == "int8" for _, p in files) and calib is None:
            calib = "synthetic"
            notes.append("int8 calibrated on generated data (no --calib): speed is real, accuracy judged on generated samples")
        target, precision = files[0]
        options = ExportOptions(target=target, precision=precision, calib=calib, allow_mismatch=True, files=tuple(files[1:]),
                                dynamic_batch=any(b > 1 for b in batches or [1]))
        result = export_checkpoint(checkpoint, work / "export", options, progress=progress)
        notes += [f"{s.step}: parity {'pass' if s.passed else 'FAIL: ' + '; '.join(s.failures)}" for s in result.chain]
        for model in result.models:
            name = _format_name(model.format, model.precision)
            if name in formats:
                entries.append(BenchEntry(model.path, name))
    report = bench_models(entries, threads, batches, runs, warmup, duration, None, progress)
    report.notes = notes
    return report
