"""Benchmark exported models (or export a checkpoint to every format first) and compare them side by side.

Each model runs in its own fresh process (edgeaudio.runtime.bench). Speed-ups are ratios against PyTorch eager
measured in the same run on the same machine, never against numbers from elsewhere.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from edgeaudio.artifacts import TORCH, Artifact
from edgeaudio.errors import InputError
from edgeaudio.exporters import EXPORTERS
from edgeaudio.runtime.bench import BenchRow, MachineInfo, bench_in_child, machine_info, measure, prepare_exported
from edgeaudio.runtime.files import CHECKPOINT_SUFFIXES, MODEL_SUFFIXES
from edgeaudio.runtime.formats import format_of
from edgeaudio.runtime.graph_counts import GRAPH_COUNTING_RULE

BASELINE = TORCH  # PyTorch eager, unfolded: the row every speed-up is measured against
# what --formats takes: the checkpoint itself, and every artifact an export can make (the exporters' declarations;
# reading them imports no converter)
FORMATS = (TORCH, *(Artifact(target, makes.precision).name for target, exporter in EXPORTERS.items() for makes in exporter.makes))


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

    found = sorted(p for p in Path(folder).iterdir() if format_of(p) is not None and manifest_path(p).exists())
    if not found:
        raise InputError("holds no exported models with manifests (.tflite or .onnx); give model paths", Path(folder).resolve())
    return found


def _precision_of(path: Path) -> str | None:
    from edgeaudio.runtime.manifest import manifest_path, read_manifest

    return read_manifest(path).precision if manifest_path(path).exists() else None


@dataclass(frozen=True)
class BenchEntry:
    """One model to benchmark: a file, the name it gets in the table, (checkpoints) whether to fold it, and its
    parity verdict when the caller knows it (an export just gated it)."""

    path: str
    label: str | None = None
    fold: bool = False
    parity: str | None = None


def _recorded_parity(path: Path) -> str | None:
    """An exported file's own parity step as its manifest recorded it at export, or None."""
    from edgeaudio.parity import ParityCheck
    from edgeaudio.runtime.manifest import manifest_path, read_manifest

    if format_of(path) is None or not manifest_path(path).exists():
        return None
    manifest = read_manifest(path)
    step = next((s for s in manifest.parity if s.get("step") == manifest.step), None)
    return None if step is None else ParityCheck.from_dict(step).summary() + " (at export)"


@dataclass(frozen=True)
class BenchSettings:
    """How to benchmark, one object from the CLI through the library to a device's command line.

    threads: interpreter threads per row ((None,) = the runtime's default); batches: batch sizes per row; runs:
    timed runs (at least); warmup: untimed runs first; duration: keep timing for this many seconds (sustained load);
    data: a .npy of inputs instead of synthetic ones; in_process: measure in this process (emulators that cannot
    spawn); eval_data, labels, frontend: accuracy on labelled clips (see edgeaudio.pipeline.evaluate); timeline:
    record latency and temperature over time (--sustained); profile: time per op (TFLite files)."""

    threads: tuple[int | None, ...] = (None,)
    batches: tuple[int, ...] = (1,)
    runs: int = 50
    warmup: int = 10
    duration: float | None = None
    data: str | None = None
    in_process: bool = False
    eval_data: str | None = None
    labels: tuple[str, ...] | None = None
    frontend: str | None = None
    timeline: bool = False
    profile: bool = False

    def to_dict(self) -> dict:
        """The report's `settings` (schema edgeaudio.bench/1 keys, plus timeline and profile when asked)."""
        threads = None if self.threads == (None,) else list(self.threads)
        out = {"runs": self.runs, "warmup": self.warmup, "duration_s": self.duration, "threads": threads,
               "batches": list(self.batches), "isolation": "this process" if self.in_process else "a fresh process per row"}
        out.update({k: True for k in ("timeline", "profile") if getattr(self, k)})
        return out

    def command_line(self) -> list[str]:
        """These settings as `edgeaudio bench` options, for running the same bench elsewhere (a device over SSH).
        Options that name local files (data, eval_data, labels) are the caller's to map to remote paths."""
        args = ["--batch", ",".join(map(str, self.batches)), "--runs", str(self.runs), "--warmup", str(self.warmup)]
        if self.threads != (None,):
            args += ["--threads", ",".join(map(str, self.threads))]
        if self.duration is not None:
            args += ["--sustained" if self.timeline else "--duration", f"{self.duration:g}"]
        if self.in_process:
            args.append("--in-process")
        if self.profile:
            args.append("--profile")
        if self.frontend:
            args += ["--frontend", self.frontend]
        return args


def check_benchable(paths: list[str | os.PathLike]) -> None:
    """InputError naming the first path that is missing or not a model edgeaudio benchmarks."""
    for path in map(Path, paths):
        if not path.exists():
            raise InputError("no such file", path)
        if path.suffix.lower() not in MODEL_SUFFIXES:
            raise InputError(f"is not a model edgeaudio benchmarks ({', '.join(MODEL_SUFFIXES)})", path)


def bench_models(
    entries: list[BenchEntry],
    settings: BenchSettings = BenchSettings(),
    progress: Callable[[str], None] = lambda _m: None,
) -> BenchReport:
    """One row per (model, threads, batch), each measured in a fresh process (or in this one when
    `settings.in_process`: no isolation, for emulators such as qemu-user that cannot start child processes).
    With `settings.eval_data`, every model's accuracy on those labelled clips, the first model as the reference
    (see edgeaudio.pipeline.evaluate; labels and frontend apply to checkpoints)."""
    check_benchable([e.path for e in entries])
    rows = []
    for entry in entries:
        path = Path(entry.path)
        for thread_count in settings.threads:
            for batch in settings.batches:
                progress(f"benchmarking {entry.label or path.name} (threads {thread_count or 'default'}, batch {batch})")
                spec = {"path": str(path), "threads": thread_count, "batch": batch, "runs": settings.runs,
                        "warmup": settings.warmup, "duration": settings.duration, "data": settings.data, "label": entry.label,
                        "precision": _precision_of(path), "fold": entry.fold, "timeline": settings.timeline,
                        "profile": settings.profile}
                row = _measured(spec, path.suffix.lower() in CHECKPOINT_SUFFIXES, settings.in_process)
                row.parity = entry.parity or _recorded_parity(path)
                rows.append(row)
    notes = []
    if settings.eval_data is not None:
        progress(f"evaluating {len(dict.fromkeys(e.path for e in entries))} model(s) on the labelled clips of {settings.eval_data}")
        notes += _add_accuracy(rows, entries, settings.eval_data, {"labels": settings.labels, "frontend": settings.frontend})
    return BenchReport(machine_info(), rows, settings.to_dict(), notes=notes)


def _add_accuracy(rows: list[BenchRow], entries: list[BenchEntry], eval_data: str, options: dict) -> list[str]:
    """Each row's accuracy on `eval_data` (one evaluation per distinct file; the first file is the reference)."""
    from edgeaudio.pipeline.evaluate import ModelSource, evaluate

    paths = list(dict.fromkeys(e.path for e in entries))
    report = evaluate([ModelSource(p, options.get("frontend"), options.get("labels")) for p in paths], eval_data)
    metric = report.headline
    by_path = {}
    for path, model in zip(paths, report.models):
        value = model.metrics[metric]
        by_path[path] = {"metric": metric, "value": value.value, "low": value.low, "high": value.high, "clips": report.scored,
                         "drop": None if model.versus is None else model.versus.drop,
                         "p_worse": None if model.versus is None else model.versus.p_worse}
    for row in rows:
        row.accuracy = by_path.get(row.model)
    note = f"accuracy: {metric} on {report.scored} labelled clips of {eval_data} (95% bootstrap interval); drop against {Path(paths[0]).name}"
    if any(e.fold for e in entries):
        note += "; a folded row shares its checkpoint's figure (the fold is exact to 1e-9 in float64)"
    return [note]


def _measured(spec: dict, checkpoint: bool, in_process: bool) -> BenchRow:
    """One row, measured here or in a fresh child; checkpoints through this layer's torch_bench, exported files
    through the runtime's own loader."""
    from edgeaudio.pipeline import torch_bench

    if in_process:
        return BenchRow(**measure(spec, torch_bench.prepare_checkpoint if checkpoint else prepare_exported))
    return bench_in_child(spec, module=torch_bench.__name__ if checkpoint else "edgeaudio.runtime.bench")


def bench_checkpoint(
    checkpoint: str | os.PathLike,
    formats: list[str],
    settings: BenchSettings = BenchSettings(),
    calib: str | None = None,
    out_dir: str | os.PathLike | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> BenchReport:
    """Export `checkpoint` to each of `formats` (folded; PyTorch eager both unfolded and folded) and bench all
    with `settings`; each exported row carries its parity verdict from the export, and with `settings.eval_data`
    every row its accuracy."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise InputError(f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    from edgeaudio.exporters import exporter_for
    from edgeaudio.pipeline.export import ExportOptions, export_checkpoint

    checkpoint = Path(checkpoint)
    work = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="edgeaudio-bench-"))
    entries: list[BenchEntry] = []
    notes = []
    if BASELINE in formats:
        entries += [BenchEntry(str(checkpoint), BASELINE), BenchEntry(str(checkpoint), "torch-folded", fold=True)]
    files = [Artifact.parse(f) for f in formats if f != BASELINE]
    if files:
        if any(a.precision == "int8" for a in files) and calib is None:
            calib = "synthetic"
            notes.append("int8 calibrated on generated data (no --calib): speed is real, accuracy judged on generated samples")
        labels = list(settings.labels) if settings.labels else None
        options = ExportOptions(target=files[0].target, precision=files[0].precision, calib=calib, allow_mismatch=True,
                                extra=tuple(files[1:]), dynamic_batch=any(b > 1 for b in settings.batches), labels=labels,
                                frontend=settings.frontend)
        result = export_checkpoint(checkpoint, work / "export", options, progress=progress)
        steps = {step.step: step for step in result.chain}
        for model in result.models:
            if model.artifact in files:
                step = steps.get(exporter_for(model.artifact).step(model.artifact.precision))
                entries.append(BenchEntry(model.path, model.artifact.name, parity=None if step is None else step.summary()))
        failed = [s for s in result.chain if not s.passed]
        notes += [f"{s.step}: parity FAIL: {'; '.join(s.failures)}" for s in failed]
    report = bench_models(entries, replace(settings, data=None), progress)
    report.notes = notes + report.notes
    return report
