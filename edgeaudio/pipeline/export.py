"""Checkpoint -> folded PyTorch -> ONNX -> TFLite fp32 -> TFLite fp16 or full int8, with a parity gate at
every step, each step judged against the original PyTorch model on held-out samples.

Everything is built in a temporary folder inside the output folder and moved into place only when every
gate passed (or the user allowed a mismatch): a failed or interrupted export leaves no model behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgeaudio import __version__
from edgeaudio.checkpoint import load_checkpoint
from edgeaudio.errors import AccuracyError, InputError, OutputPathError, ParityError
from edgeaudio.fold import fold_model
from edgeaudio.parity import ParityCheck, check
from edgeaudio.pipeline.data import choose_frontend, model_inputs
from edgeaudio.pipeline.gates import ABSOLUTE_FLOOR, FLOOR_FACTOR, FOLD_EXACT, bounds_for, float_basis, fold_exact_bounds, noise_floor
from edgeaudio.pipeline.manifests import ExportFacts, build_manifest
from edgeaudio.pipeline.reference import as_float64, measure_reference, with_half_weights
from edgeaudio.pipeline.torch_run import output_names, run_model, run_module
from edgeaudio.runtime.runner import Runner
from edgeaudio.exporters import EXPORTERS, ExportDescription, ExportJob

PRECISIONS = ("fp32", "fp16", "int8")
REFERENCE = "original PyTorch, float64"


@dataclass
class ExportOptions:
    target: str = "onnx"
    precision: str = "fp32"
    calib: str | None = None
    logits: bool = False
    dynamic_batch: bool = False
    fold: bool = True
    allow_mismatch: bool = False
    frontend: str | None = None
    name: str | None = None
    seed: int = 0
    labels: list[str] | None = None  # class names, in output order (verbs then nouns for two heads)
    also: tuple[str, ...] = ()  # further TFLite precisions to write from the same graph (e.g. fp16 beside int8)
    float_factor: float | None = None  # float gates at this many noise floors instead of FLOOR_FACTOR (recorded)
    files: tuple[tuple[str, str], ...] = ()  # further (target, precision) files from the same export (bench --formats)
    calib_method: str = "minmax"  # how int8 activation ranges come from the calibration data (see calibration_ranges)
    equalize: bool = False  # cross-layer equalization of the folded model before export (edgeaudio.fold.equalize)
    eval_data: str | None = None  # labelled clips every written file is evaluated on (export --eval)
    max_drop: float | None = None  # points of accuracy a file may lose against the checkpoint (with eval_data)

    @property
    def factor(self) -> float:
        return FLOOR_FACTOR if self.float_factor is None else self.float_factor

    def validate(self) -> None:
        if self.target not in EXPORTERS:
            raise InputError(f"unknown target {self.target!r}; one of {', '.join(EXPORTERS)}")
        for target, _ in self.files:
            if target not in EXPORTERS:
                raise InputError(f"unknown target {target!r}; one of {', '.join(EXPORTERS)}")
        for target, precision in [(self.target, p) for p in (self.precision, *self.also)] + list(self.files):
            if precision not in PRECISIONS:
                raise InputError(f"unknown precision {precision!r}; one of {', '.join(PRECISIONS)}")
            if precision not in EXPORTERS[target].precisions:
                serving = [t for t, e in EXPORTERS.items() if precision in e.precisions]
                raise InputError(f"--target {target} writes {', '.join(EXPORTERS[target].precisions)}; "
                                 f"{precision} is written by --target {', '.join(serving)}")
        from edgeaudio.exporters.calibration_ranges import METHODS

        if self.calib_method not in METHODS:
            raise InputError(f"unknown --calib-method {self.calib_method!r}; one of {', '.join(METHODS)}")
        if self.calib_method == "mse" and ("onnx", "int8") in requested_files(self):
            raise InputError("--calib-method mse is the TFLite route's; ONNX Runtime's calibrators are minmax and percentile")
        if self.equalize and not self.fold:
            raise InputError("--equalize works on the folded model; drop --no-fold")
        if self.max_drop is not None and self.eval_data is None:
            raise InputError("--max-drop needs --eval DATA: the drop is measured on labelled clips")
        if self.float_factor is not None and not self.float_factor >= 1:
            raise InputError(f"--float-factor {self.float_factor:g}: a float step cannot be held below the original's own noise (factor >= 1)")


@dataclass
class ExportedModel:
    path: str
    format: str
    precision: str
    size_bytes: int
    sha256: str
    manifest: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ExportResult:
    source: str
    found: str
    out_dir: str
    data: dict
    chain: list[ParityCheck]
    models: list[ExportedModel]
    stages: list[tuple[str, float]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    evaluation: Any = None  # EvalReport of every written file on the --eval clips, the checkpoint as reference

    @property
    def passed(self) -> bool:
        return all(step.passed for step in self.chain) and (self.evaluation is None or self.evaluation.passed)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "found": self.found,
            "out_dir": self.out_dir,
            "passed": self.passed,
            "data": self.data,
            "warnings": list(self.warnings),
            "stages": [{"stage": name, "seconds": round(sec, 3)} for name, sec in self.stages],
            "chain": [step.to_dict() for step in self.chain],
            "models": [m.to_dict() for m in self.models],
            "evaluation": None if self.evaluation is None else self.evaluation.to_dict(),
        }


class _Stages:
    """Times each stage (short name, for the report) and announces it (longer message, as progress)."""

    def __init__(self, progress: Callable[[str], None]):
        self.progress = progress
        self.done: list[tuple[str, float]] = []

    def run(self, name: str, message: str, fn: Callable, *args, **kwargs):
        self.progress(message)
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        self.done.append((name, time.perf_counter() - start))
        return out


def _output_dir(checkpoint: Path, out_dir: str | os.PathLike | None) -> Path:
    out = Path(out_dir) if out_dir is not None else checkpoint.with_name(checkpoint.stem + "_export")
    if out.exists() and not out.is_dir():
        raise OutputPathError("exists and is not a folder; -o takes a folder", out)
    parent = out if out.exists() else out.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise OutputPathError(f"cannot write here: folder {parent} is not writable", out)
    return out


def export_checkpoint(
    checkpoint: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    options: ExportOptions | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> ExportResult:
    """Export `checkpoint` per `options` into `out_dir` (a folder); see the module docstring.

    Raises ParityError (exit 1) when a gate fails and `allow_mismatch` is off, InputError / ExportError
    (exit 2) for bad input or a graph the rules refuse. Nothing is left in `out_dir` on failure.
    """
    options = options or ExportOptions()
    options.validate()
    checkpoint = Path(checkpoint)
    out = _output_dir(checkpoint, out_dir)
    stages = _Stages(progress)

    loaded = stages.run("load", f"loading {checkpoint}", load_checkpoint, checkpoint)
    config = loaded.config
    labels = options.labels if options.labels is not None else loaded.meta.get("labels")
    if labels is not None and len(labels) != sum(config.num_classes):
        raise InputError(f"{len(labels)} labels given for a model with {sum(config.num_classes)} classes")
    shape = tuple(config.input_shape[1:])
    default_frontend = loaded.spec.default_frontend(config) if loaded.spec.default_frontend else None
    choice = choose_frontend(options.frontend, loaded.meta, loaded.cfg, shape, default_frontend)
    frontend = choice.config
    if frontend is not None and len(shape) == 3 and frontend.model_input_shape != shape:
        raise InputError(f"the {choice.source} front end makes {frontend.model_input_shape} inputs, but the model takes {shape}", checkpoint)
    labelled = _eval_set(options, labels, config.head_act) if options.eval_data else None
    data = model_inputs(options.calib, shape, choice, options.seed)
    warnings = list(loaded.warnings)
    if data.skipped_warning():
        warnings.append(data.skipped_warning())
    if choice.problem:
        warnings.append(f"{choice.problem}; the manifest records no front end (pass --frontend PRESET to set one)")
    elif frontend is None:
        warnings.append("no front-end config is known for this model; the manifest leaves `frontend` empty (pass --frontend PRESET)")
    if data.source == "synthetic" and any(p == "int8" for _, p in requested_files(options)):
        given = "--calib synthetic" if options.calib is not None else "no --calib given"
        warnings.append(f"{given}: int8 is calibrated on {len(data.calibration)} samples of {data.kind}; "
                        f"pass --calib FOLDER of your own audio for ranges measured on what the model will hear")

    model = stages.run("fold", "folding branches, batch norms and identities", _deploy_form, loaded.model, options) if options.fold else loaded.model
    output = "logits" if options.logits else "probs"
    kind = "logits" if options.logits else "probabilities"
    names = output_names(loaded.model, kind)
    description = ExportDescription(loaded.spec.name, loaded.spec.input_name, (1, *shape), tuple(names), kind, tuple(config.num_classes),
                                    config.head_act)
    module = loaded.spec.exportable(model, output)
    held = data.held_out
    original64 = as_float64(loaded.model)
    reference = stages.run("reference", f"running the original PyTorch model on {len(held)} held-out samples, in float64 and float32",
                           measure_reference, loaded.model, held, output, original64)
    floor = reference.noise_floor
    basis = float_basis(options.factor, options.float_factor is not None)

    floors: dict[str, dict[str, float]] = {"fp32": floor, "int8": {}}  # int8 is judged by agreement, not by a floor
    if any(p == "fp16" for _, p in requested_files(options)):
        half = stages.run("fp16 floor", "measuring what float16 weights alone cost (the export-form model, weights rounded)",
                          run_module, with_half_weights(module), held)
        floors["fp16"] = noise_floor(reference.exact, dict(zip(names, half)))
    bases = {"fp32": basis, "fp16": float_basis(options.factor, options.float_factor is not None, "fp16-weight floor")}

    def gate(step: str, precision: str, outputs: list[np.ndarray]) -> ParityCheck:
        pairs = {name: (reference.exact[name], out) for name, out in zip(names, outputs)}
        result = check(step, REFERENCE, pairs, bounds_for(precision, names, description.activation, floors[precision], options.factor),
                       floors[precision], bases.get(precision, ""))
        progress(f"  {step}: " + ("pass" if result.passed else "FAIL " + "; ".join(result.failures)))
        return result

    chain: list[ParityCheck] = []
    if options.fold:
        folded64 = stages.run("fold float64", "folding a float64 copy (the fold's own error, apart from float32 rounding)", _deploy_form, original64, options)
        in64 = run_model(folded64, held.astype(np.float64), output)
        pairs = {name: (reference.exact[name], in64[name]) for name in names}
        step = "fold + equalize, float64" if options.equalize else "fold, float64"
        chain.append(check(step, REFERENCE, pairs, fold_exact_bounds(names), basis=f"exact to {FOLD_EXACT:g}"))
    folded_outputs = stages.run("pytorch parity", "checking the export-form PyTorch model", run_module, module, held)
    chain.append(gate("PyTorch folded" if options.fold else "PyTorch (export form)", "fp32", folded_outputs))

    name = options.name or checkpoint.stem
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".edgeaudio-export-", dir=out))
    try:
        job = ExportJob(module, description, work, name, data.calibration, _onnx_metadata(loaded, description, frontend, labels),
                        options.dynamic_batch, tuple(loaded.spec.int8_float_until), loaded.spec.allow_transpose, options.calib_method)
        exporters = {}
        produced: list[tuple[Path, str, str, ParityCheck]] = []
        for target, precision in requested_files(options):  # every file written, then gated the same way
            exporter = exporters.get(target)
            if exporter is None:
                exporter = exporters[target] = EXPORTERS[target]()
                if exporter.preparation():
                    stage, message = exporter.preparation()
                    stages.run(stage, message, exporter.prepare, job)
            stage = "onnx" if (target, precision) == ("onnx", "fp32") else f"{target} {precision}"
            path = job.files[(target, precision)] = stages.run(stage, exporter.message(precision, job), exporter.export, precision, job)
            step = exporter.step(precision)
            chain.append(gate(step, precision, stages.run(f"{stage} parity", f"checking {step} parity", Runner(path).run, held)))
            produced.append((path, target, precision, chain[-1]))
        if not all(step.passed for step in chain) and not options.allow_mismatch:
            failed = [f"{s.step}: {'; '.join(s.failures)}" for s in chain if not s.passed]
            raise ParityError(f"{checkpoint}: export failed its parity gate, no model written: " + " | ".join(failed))
        facts = ExportFacts(
            description, loaded.config.to_dict(),
            {"checkpoint": loaded.path.name, "sha256": loaded.sha256, "form": loaded.form, "container": loaded.container},
            _export_options(options, description, data, {t: e.facts for t, e in exporters.items()}, loaded.spec.int8_float_until),
            [c.to_dict() for c in chain], labels, None if frontend is None else frontend.to_dict(), f"{name}.expected.npz",
            {t: e.layer_names for t, e in exporters.items()})
        _stage_outputs(work, produced, facts, held, reference.exact)
        evaluation = None
        if labelled is not None:
            evaluation = stages.run("eval", f"evaluating every written file on the {len(labelled)} labelled clips of {options.eval_data}",
                                    _evaluate_files, loaded, produced, labelled, options, labels)
            if not evaluation.passed and not options.allow_mismatch:
                failed = [f"{Path(m.model).name}: {m.gate}" for m in evaluation.models if not m.passed]
                raise AccuracyError(f"{checkpoint}: export failed its accuracy gate, no model written: " + " | ".join(failed))
        models = _move_outputs(work, out, produced, facts)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ExportResult(str(checkpoint), loaded.describe(), str(out), data.describe(), chain, models, stages.done, warnings, evaluation)


def _deploy_form(model, options: ExportOptions):
    """The folded model, cross-layer equalized when asked (exact too: the float64 step checks both)."""
    folded = fold_model(model)
    if options.equalize:
        from edgeaudio.fold.equalize import equalize_model

        equalize_model(folded)
    return folded


def requested_files(options: ExportOptions) -> list[tuple[str, str]]:
    """The (target, precision) files an export writes, in order, each after the files it starts from: the ONNX
    file unless only ExecuTorch files are asked for (ONNX and TFLite start from it); for TFLite its fp32
    first (an int8 with a float region finds that region in it), then the precisions asked for."""
    wanted = [(options.target, p) for p in dict.fromkeys([options.precision, *options.also])] + list(options.files)
    first_tflite = next((i for i, (target, _) in enumerate(wanted) if target == "tflite"), None)
    if first_tflite is not None:
        wanted.insert(first_tflite, ("tflite", "fp32"))
    files: list[tuple[str, str]] = []

    def add(pair: tuple[str, str]) -> None:
        for need in EXPORTERS[pair[0]].needs:
            add(need)
        if pair not in files:
            files.append(pair)

    if any(target != "executorch" for target, _ in wanted):  # ExecuTorch starts from the PyTorch module itself
        add(("onnx", "fp32"))
    for pair in wanted:
        add(pair)
    return files


def _onnx_metadata(loaded, description, frontend, labels) -> dict[str, str]:
    return {
        "edgeaudio_version": __version__,
        "arch": description.arch,
        "input_layout": loaded.spec.input_layout,
        "output_kind": description.output_kind,
        "source_sha256": loaded.sha256,
        "config": json.dumps(loaded.config.to_dict()),
        "labels": json.dumps(labels),
        "frontend": json.dumps(frontend.to_dict() if frontend is not None else None),
    }


def _export_options(options: ExportOptions, description: ExportDescription, data, target_facts: dict, float_until) -> dict:
    """How the files were made, as every manifest of the export records it."""
    recorded = {
        "target": options.target,
        "precision": options.precision,
        "output": description.output_kind,
        "folded": options.fold,
        "equalized": options.equalize,
        "calib_method": options.calib_method,
        "dynamic_batch": options.dynamic_batch,
        "calibration": "synthetic" if data.source == "synthetic" else str(options.calib),
        "calibration_kind": data.kind,
        "calibration_skipped": list(data.skipped),  # audio files left out (silent, unreadable), and why
        "float_gate": {"factor": options.factor, "absolute_floor": ABSOLUTE_FLOOR, "set_by_user": options.float_factor is not None},
        **target_facts,  # what each target's exporter recorded, under its name ("onnx", "executorch")
    }
    if float_until and any(p == "int8" for _, p in requested_files(options)):
        recorded["int8_float_until"] = list(float_until)  # kept float in the int8 file, and why: the spec's docs
    return recorded


def _stage_outputs(work: Path, produced, facts: ExportFacts, held: np.ndarray, reference: dict) -> None:
    """Write the expected outputs and every produced file's manifest beside the files in `work`."""
    from edgeaudio.atomic import atomic_path
    from edgeaudio.runtime.manifest import manifest_path

    with atomic_path(work / facts.expected_file) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, inputs=held, **{f"reference/{k}": v for k, v in reference.items()})
    float_twin = {fmt: p.name for p, fmt, prec, _ in produced if prec == "fp32"}  # an int8 file's fp32 twin, same format
    for path, fmt, precision, step in produced:  # each file's manifest carries its own step's bounds and floor
        twin = float_twin.get(fmt) if precision == "int8" else None
        build_manifest(path, fmt, precision, facts, step, twin).write(manifest_path(path))


def _move_outputs(work: Path, out: Path, produced, facts: ExportFacts) -> list[ExportedModel]:
    """Move what _stage_outputs wrote into `out`, models last, so a manifest never points at a missing file."""
    from edgeaudio.hashing import file_sha256
    from edgeaudio.runtime.manifest import manifest_path

    os.replace(work / facts.expected_file, out / facts.expected_file)
    models = []
    for path, fmt, precision, _ in produced:
        os.replace(manifest_path(path), manifest_path(out / path.name))
        os.replace(path, out / path.name)
        final = out / path.name
        models.append(ExportedModel(str(final), fmt, precision, final.stat().st_size, file_sha256(final), str(manifest_path(final))))
    return models


def _eval_set(options: ExportOptions, labels: list[str] | None, head_act: str):
    """The --eval clips, read and matched to the model's labels before any long work starts."""
    from edgeaudio.datasets.labelled import match_labels, read_labelled

    if labels is None:
        raise InputError("--eval needs the model's class names to match the clips' labels: pass --labels FILE")
    labelled = read_labelled(options.eval_data)
    match_labels(labelled, labels, head_act == "sigmoid")
    return labelled


def _evaluate_files(loaded, produced, labelled, options: ExportOptions, labels: list[str]):
    """Every written file's accuracy on `labelled`, against the checkpoint in PyTorch; each staged manifest
    records its file's figures."""
    from edgeaudio.pipeline.evaluate import ModelSource, evaluate
    from edgeaudio.runtime.manifest import manifest_path, read_manifest

    sources = [ModelSource(str(loaded.path), options.frontend, tuple(labels))]
    sources += [ModelSource(str(path)) for path, *_ in produced]
    report = evaluate(sources, labelled, options.max_drop, loaded=loaded)
    for (path, *_), model in zip(produced, report.models[1:]):
        manifest = read_manifest(path)
        manifest.accuracy = accuracy_record(report, model)
        manifest.write(manifest_path(path))
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
