"""Checkpoint -> folded PyTorch -> ONNX -> TFLite / ExecuTorch files, fp32, fp16 or int8, with a parity gate at
every step, each step judged against the original PyTorch model in float64 on held-out samples.

An export is: plan (export_source.py: the checkpoint, its data and the files to write, refused up front when no
exporter supports them) -> gate (export_gate.py: the reference and floors) -> for each planned file: export,
gate, stage -> commit (export_outputs.py: moved into place only when every gate passed, or the user allowed a
mismatch). A failed gate returns the result with every step's numbers and writes no model.

The gate is measured in a thread of its own while the files made from other files (ONNX -> TFLite) are written
and run on the held-out samples; the files are judged, in the plan's order, once the gate is there. Work that
keeps Python's lock for long runs in a process of its own, so that it does not stall the gate's PyTorch threads:
every TFLite conversion (onnx2tf, the converter, its int8 calibration; exporters/to_tflite.py, convert_apart).
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from edgeaudio.artifacts import Artifact
from edgeaudio.errors import InputError, ParityError
from edgeaudio.parity import ParityCheck
from edgeaudio.pipeline.export_outputs import Built, ExportedModel, commit_outputs, output_dir, recorded_options, stage_outputs, staging
from edgeaudio.pipeline.float_layers import DEFAULT_MAX_FLOAT_MACS, parse_float_layers
from edgeaudio.pipeline.gates import FLOOR_FACTOR
from edgeaudio.runtime.runner import Runner

__all__ = ["ExportFailed", "ExportOptions", "ExportResult", "ExportedModel", "export_checkpoint"]

# files are judged once the gate and every conversion are done: what runs them then may use every core (the
# VGG-Sound-size model's fp32 and int8 TFLite and fp32 ONNX files give the same outputs to the bit on one or two)
AFTER_THREADS = os.cpu_count() or 1


@dataclass
class ExportOptions:
    """What to export and how. `target` and `precision` name the file asked for; `extra` asks for further files
    from the same export (bench --formats, an fp16 beside an int8)."""

    target: str = "onnx"
    precision: str = "fp32"
    extra: tuple[Artifact, ...] = ()
    calib: str | None = None  # a folder of audio, a .npy of model inputs, "synthetic" or None (generated)
    calib_method: str = "auto"  # how int8 activation ranges come from the calibration (exporters.plan, calibration_choice)
    equalize: bool = False  # cross-layer equalization of the folded model before export (edgeaudio.fold.equalize)
    float_layers: str | tuple[str, ...] = "auto"  # int8 layers kept float: "auto" (searched when the gate fails), names, or ()
    max_float_macs: float = DEFAULT_MAX_FLOAT_MACS  # the share of the model's MACs "auto" may keep float
    logits: bool = False
    dynamic_batch: bool = False
    fold: bool = True
    allow_mismatch: bool = False
    frontend: str | None = None
    name: str | None = None
    seed: int = 0
    labels: list[str] | None = None  # class names, in output order (verbs then nouns for two heads)
    float_factor: float | None = None  # float gates at this many noise floors instead of FLOOR_FACTOR (recorded)
    eval_data: str | None = None  # labelled clips every written file is evaluated on (export --eval)
    max_drop: float | None = None  # points of accuracy a file may lose against the checkpoint (with eval_data)

    @property
    def requested(self) -> list[Artifact]:
        return [Artifact(self.target, self.precision), *self.extra]

    @property
    def factor(self) -> float:
        return FLOOR_FACTOR if self.float_factor is None else self.float_factor

    def validate(self) -> None:
        """InputError for options that cannot work together, before anything is loaded (the plan included: it
        is made again once the model is known, which may narrow what a target honours)."""
        from edgeaudio.exporters import plan_export

        plan_export(self.requested, self.calib_method)
        if self.equalize and not self.fold:
            raise InputError("--equalize works on the folded model; drop --no-fold")
        if self.max_drop is not None and self.eval_data is None:
            raise InputError("--max-drop needs --eval DATA: the drop is measured on labelled clips")
        if isinstance(self.float_layers, str):
            self.float_layers = parse_float_layers(self.float_layers)
        if self.float_layers and self.float_layers != "auto" and not any(a.precision == "int8" for a in self.requested):
            raise InputError("--float-layers keeps layers of an int8 file in float, and no int8 file is asked for (add --int8)")
        if not 0 <= self.max_float_macs <= 1:
            raise InputError(f"--max-float-macs {self.max_float_macs:g}: a share of the model's MACs, from 0 to 1")
        if self.float_factor is not None and not self.float_factor >= 1:
            raise InputError(f"--float-factor {self.float_factor:g}: a float step cannot be held below the original's own noise (factor >= 1)")


@dataclass
class ExportResult:
    source: str
    found: str
    out_dir: str
    data: dict
    plan: list[dict]
    chain: list[ParityCheck]
    models: list[ExportedModel] = field(default_factory=list)
    stages: list[tuple[str, float]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    evaluation: Any = None  # EvalReport of every written file on the --eval clips, the checkpoint as reference
    failure: str | None = None  # why nothing was written: the failed gates, one line

    @property
    def passed(self) -> bool:
        return all(step.passed for step in self.chain) and (self.evaluation is None or self.evaluation.passed)

    @property
    def files(self) -> list[str]:
        """The paths written (none when a gate failed)."""
        return [m.path for m in self.models]

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "found": self.found,
            "out_dir": self.out_dir,
            "passed": self.passed,
            "failure": self.failure,
            "data": self.data,
            "plan": self.plan,
            "warnings": list(self.warnings),
            "stages": [{"stage": name, "seconds": round(sec, 3)} for name, sec in self.stages],
            "chain": [step.to_dict() for step in self.chain],
            "models": [m.to_dict() for m in self.models],
            "evaluation": None if self.evaluation is None else self.evaluation.to_dict(),
        }


class ExportFailed(ParityError):
    """An export whose parity or accuracy gate failed, nothing written; `result` holds every step's numbers."""

    def __init__(self, result: ExportResult):
        self.result = result
        super().__init__(result.failure or "export failed its gate")


class _Stages:
    """Times each stage (short name, for the report) and announces it (longer message, as progress).

    The gate's thread and the conversions' announce stages alike, one message at a time; a message that comes
    while a converter's output is captured (edgeaudio.quiet) is held until the capture ends, else a printing
    progress callback would write it into the converter's log."""

    def __init__(self, progress: Callable[[str], None]):
        self._lock = threading.Lock()
        self._progress = progress
        self._held: list[str] = []
        self.done: list[tuple[str, float]] = []

    def progress(self, message: str | None = None) -> None:
        from edgeaudio.quiet import capturing

        with self._lock:
            self._held += [message] if message is not None else []
            while self._held and not capturing():
                self._progress(self._held.pop(0))

    def run(self, name: str, message: str, fn: Callable, *args, **kwargs):
        self.progress(message)
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        self.done.append((name, time.perf_counter() - start))
        self.progress()  # what was held during the stage
        return out


def export_checkpoint(
    checkpoint: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    options: ExportOptions | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> ExportResult:
    """Export `checkpoint` per `options` into `out_dir` (a folder); see the module docstring.

    Returns the result whether or not the gates passed: `result.passed`, and `result.failure` with nothing
    written when a gate failed and `allow_mismatch` is off. InputError / ExportError (exit 2) for bad input or a
    graph a target's rules refuse; nothing is left in `out_dir` then either.
    """
    from edgeaudio.pipeline.export_gate import GateAlongside
    from edgeaudio.pipeline.export_source import prepare_source

    options = options or ExportOptions()
    options.validate()
    checkpoint = Path(checkpoint)
    out = output_dir(checkpoint, out_dir)
    stages = _Stages(progress)
    source = prepare_source(checkpoint, options, stages)  # plan
    with staging(out) as work, _exporters(source.plan) as exporters:
        job = source.job(work, options.name or checkpoint.stem, options)
        # files made from the PyTorch module, by PyTorch, come first: a torch.onnx export beside the reference moved
        # the last bits of two of its four float32 draws (measured); TensorFlow and onnxsim beside it did not
        by_torch = {p.artifact for p in source.plan.steps if p.starts_from is None}
        made = {p.artifact: _make(p, job, exporters, stages, source) for p in source.plan.steps if p.artifact in by_torch}
        with GateAlongside(source, options, stages) as pending:
            made.update({p.artifact: _make(p, job, exporters, stages, source) for p in source.plan.steps if p.artifact not in by_torch})
            gate = _wait(pending, stages, "judging the files")
        stages.done.append(("waiting for the gate", pending.waited))
        built = [_judge(made[p.artifact], job, gate, stages, source, options, made.get(Artifact(p.artifact.target, "fp32")))
                 for p in source.plan.steps]
        result = ExportResult(str(checkpoint), source.loaded.describe(), str(out), source.data.describe(), source.plan.to_dict(),
                              gate.chain, stages=stages.done, warnings=source.warnings)
        result.plan = [{**b.planned.to_dict(), "calib_method_used": b.calib_method, "tries": [t.to_dict() for t in b.tries],
                        "float_layers": list(b.float_layers),
                        "float_layer_search": None if b.float_choice is None else b.float_choice.to_dict(),
                        "input_rounding": None if b.input_rounding is None else b.input_rounding.to_dict()} for b in built]
        if not gate.passed and not options.allow_mismatch:
            tried = {b.check.step: (f" (ranges tried on calibration samples: {b.tried()})" if b.tries else "")
                     + (f" (layers kept float, tried: {b.float_choice.tried()})" if b.float_choice is not None else "")
                     + (f"; {b.input_rounding.diagnosis}" if b.input_rounding is not None and b.input_rounding.diagnosis else "")
                     for b in built}
            result.failure = _failure(checkpoint, "parity", [f"{s.step}: {'; '.join(s.failures)}{tried.get(s.step, '')}"
                                                             for s in gate.chain if not s.passed])
            return result
        facts = _facts(source, options, gate, exporters, job.name)
        records = {b.artifact: recorded_options(options, source, b, {t: e.facts for t, e in exporters.items()}) for b in built}
        stages.run("manifests", "writing the manifests and the expected outputs", stage_outputs, work, built, facts, source.data.held_out,
                   gate.exact, records)
        if source.labelled is not None:
            result.evaluation = stages.run("eval", f"evaluating every written file on the {len(source.labelled)} labelled clips of "
                                           f"{options.eval_data}", _evaluate_files, source, built, options)
            if not result.evaluation.passed and not options.allow_mismatch:
                failed = [f"{Path(m.model).name}: {m.gate}" for m in result.evaluation.models if not m.passed]
                result.failure = _failure(checkpoint, "accuracy", failed)
                return result
        result.models = commit_outputs(work, out, built, facts.expected_file)
    return result


@dataclass
class _Made:
    """One planned file written into the staging folder and run on the held-out samples, not judged yet."""

    planned: Any  # PlannedArtifact
    exporter: Any  # the TargetExporter that wrote it
    path: Path
    outputs: list
    method: str | None  # int8: the range method it was made with


@contextmanager
def _exporters(plan):
    """One exporter per planned target (exporters keep what their precisions share), started (each begins what
    takes long to start: TargetExporter.start) and, when the block ends, closed."""
    from edgeaudio.exporters import exporter_for

    precisions: dict[str, set[str]] = {}
    for step in plan.steps:
        precisions.setdefault(step.artifact.target, set()).add(step.artifact.precision)
    exporters = {step.artifact.target: exporter_for(step.artifact)() for step in plan.steps}
    try:
        for target, exporter in exporters.items():
            exporter.start(precisions[target])
        yield exporters
    finally:
        for exporter in exporters.values():
            exporter.close()


def _make(planned, job, exporters: dict, stages: _Stages, source) -> _Made:
    """Write one planned file into the staging folder with its target's exporter and run it on the held-out
    samples; an int8 file whose ranges are chosen automatically is made with the first method. The gate is being
    measured meanwhile."""
    artifact = planned.artifact
    exporter = exporters[artifact.target]
    if not exporter.prepared:
        if exporter.preparation():
            stage, message = exporter.preparation()
            stages.run(stage, message, exporter.prepare, job)
        exporter.prepared = True
    method = planned.candidates[0] if planned.candidates else None
    path, outputs = _write_and_run(exporter, planned, job, stages, source, method)
    job.files[artifact] = path
    return _Made(planned, exporter, path, outputs, method)


def _write_and_run(exporter, planned, job, stages: _Stages, source, method: str | None) -> tuple[Path, list]:
    artifact = planned.artifact
    path = stages.run(artifact.name, exporter.message(artifact.precision, job), exporter.export, artifact.precision, job, method)
    outputs = stages.run(f"{artifact.name} parity", f"checking {exporter.step(artifact.precision)} parity", Runner(path).run,
                         source.data.held_out)
    return path, outputs


def _judge(made: _Made, job, gate, stages: _Stages, source, options: ExportOptions, twin: _Made | None = None) -> Built:
    """Judge a made file against the gate. When an int8 file fails and its ranges are chosen automatically,
    every method is tried on calibration samples apart from the held-out ones (calibration_choice.py); when
    none passes and --float-layers is auto, the fewest layers within the MACs budget are kept float
    (float_layers.py); the file is then made again on every calibration sample. An int8 file with int8 input
    that still fails is diagnosed for its input rounding (`twin`: the target's fp32 file, made, when planned)."""
    planned, exporter, artifact, held = made.planned, made.exporter, made.planned.artifact, source.data.held_out
    step = exporter.step(artifact.precision)
    int8 = artifact.precision == "int8"
    path, method, layers = made.path, made.method, job.float_layers if int8 else ()
    result = gate.measure(step, artifact.precision, made.outputs)
    tries, choice = [], None
    if int8 and not result.passed and (len(planned.candidates) > 1 or options.float_layers == "auto"):
        from edgeaudio.pipeline.calibration_choice import JUDGING_SAMPLES, Judge

        fresh = source.data.more(JUDGING_SAMPLES) if source.data.more is not None else None
        judge = Judge(job, source.module, list(source.description.output_names), source.description.activation, gate.factor, fresh)
        run = lambda p, x: Runner(p, AFTER_THREADS).run(x)  # noqa: E731
        if len(planned.candidates) > 1:
            method, tries = _choose_method(exporter, artifact, step, planned, judge, run, stages, method)
        if options.float_layers == "auto" and not any(t.method == method and t.passed for t in tries):
            choice = _choose_float_layers(exporter, artifact, step, job, judge, run, stages, source, method, options)
            layers = choice.chosen or ()
        # the tries overwrote the file: made again on every calibration sample
        path, outputs = _write_and_run(exporter, planned, dataclasses.replace(job, float_layers=layers), stages, source, method)
        result = gate.measure(step, artifact.precision, outputs)
    built = Built(path, planned, type(exporter), gate.add(result), method, tries, float_layers=layers, float_choice=choice)
    if not result.passed and int8 and twin is not None and exporter.int8_input:
        from edgeaudio.pipeline.calibration_choice import input_rounding

        built.input_rounding = stages.run(f"{artifact.name} input rounding", f"{step} fails: measuring what its input grid alone costs",
                                          input_rounding, path, twin.path, held, list(source.description.output_names),
                                          source.description.activation, gate.factor, twin.outputs, AFTER_THREADS)
        if built.input_rounding is not None and built.input_rounding.diagnosis:
            source.warnings.append(f"{step}: {built.input_rounding.diagnosis}")
    return built


def _choose_method(exporter, artifact, step: str, planned, judge, run, stages: _Stages, first: str):
    """(the best calibration method, every method's try), each tried on the judge's split."""
    from edgeaudio.pipeline.calibration_choice import best, try_methods

    def write(method, on):
        return exporter.export(artifact.precision, on, method)

    tries = stages.run(f"{artifact.name} ranges", f"{step} failed with {first} ranges: trying {', '.join(planned.candidates)} "
                       f"on calibration samples apart from the held-out ones", try_methods, write, run, judge, planned.candidates)
    return best(tries).method, tries


def _choose_float_layers(exporter, artifact, step: str, job, judge, run, stages: _Stages, source, method, options: ExportOptions):
    """--float-layers auto for one int8 file: the FloatLayersChoice of float_layers.search."""
    from edgeaudio.pipeline.float_layers import module_macs, search

    twin = job.files.get(Artifact(artifact.target, "fp32"))

    def write(layers, on):
        return exporter.export(artifact.precision, dataclasses.replace(on, float_layers=layers), method)

    def losses(path, samples):
        return exporter.layer_losses(path, twin, samples)

    macs = module_macs(source.module, source.data.held_out)
    return stages.run(f"{artifact.name} float layers", f"{step} still fails: keeping the layers that lose the most in float, within "
                      f"{options.max_float_macs:.0%} of the MACs, tried on calibration samples apart from the held-out ones",
                      search, write, run, losses, judge, macs, options.max_float_macs)


def _wait(pending, stages: _Stages, before: str):
    """The gate, announcing the wait when it is not there yet."""
    if not pending.done:
        stages.progress(f"waiting for the PyTorch reference before {before}")
    return pending.result()


def _failure(checkpoint: Path, gate: str, failed: list[str]) -> str:
    return f"{checkpoint}: export failed its {gate} gate, no model written: " + " | ".join(failed)


def _facts(source, options: ExportOptions, gate, exporters: dict, name: str):
    """What every manifest of the export records alike."""
    from edgeaudio.pipeline.manifests import ExportFacts

    loaded = source.loaded
    return ExportFacts(
        source.description, loaded.config.to_dict(),
        {"checkpoint": loaded.path.name, "sha256": loaded.sha256, "form": loaded.form, "container": loaded.container},
        recorded_options(options, source, None, {t: e.facts for t, e in exporters.items()}),
        [c.to_dict() for c in gate.chain], source.labels, None if source.frontend is None else source.frontend.to_dict(),
        f"{name}.expected.npz", {t: e.layer_names for t, e in exporters.items()})


def _evaluate_files(source, built: list[Built], options: ExportOptions):
    """Every written file's accuracy on the --eval clips, against the checkpoint in PyTorch; each staged manifest
    records its file's figures."""
    from edgeaudio.pipeline.evaluate import ModelSource, evaluate
    from edgeaudio.runtime.manifest import manifest_path, read_manifest

    loaded = source.loaded
    sources = [ModelSource(str(loaded.path), options.frontend, tuple(source.labels))]
    sources += [ModelSource(str(b.path)) for b in built]
    report = evaluate(sources, source.labelled, options.max_drop, loaded=loaded)
    for b, model in zip(built, report.models[1:]):
        manifest = read_manifest(b.path)
        manifest.accuracy = accuracy_record(report, model)
        manifest.write(manifest_path(b.path))
    return report


def accuracy_record(report, model) -> dict:
    """What a manifest records of its file's accuracy: the headline metric with its interval, the reference's,
    the drop with its paired test, and the gate."""
    metric = report.headline
    reference = report.models[0]
    versus = model.versus
    return {
        "data": report.data, "task": report.task, "clips": report.scored, "metric": metric,
        **{k: v for k, v in model.metrics[metric].to_dict().items()},
        "reference": f"{Path(reference.model).name} ({reference.format} {reference.precision})",
        "reference_value": reference.metrics[metric].value,
        "drop": versus.drop, "drop_low": versus.low, "drop_high": versus.high, "p_worse": versus.p_worse, "test": versus.test,
        "max_drop_points": report.max_drop, "gate": model.gate,
    }
