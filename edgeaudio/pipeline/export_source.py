"""What an export starts from, settled before any conversion: the loaded checkpoint, its labels and front end,
the calibration and held-out samples, the export-form module and description, and the plan of files."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeaudio import __version__
from edgeaudio.errors import InputError
from edgeaudio.exporters import ExportDescription, ExportJob, ExportPlan, plan_export
from edgeaudio.fold import fold_model


@dataclass
class ExportSource:
    loaded: Any  # LoadedCheckpoint
    plan: ExportPlan
    description: ExportDescription
    model: Any  # the deploy form (folded, equalized) or the original
    module: Any  # the export form of `model`: one NCHW input, the chosen output
    data: Any  # ModelInputs: calibration and held-out samples
    labels: list[str] | None
    frontend: Any  # FrontendConfig or None
    labelled: Any = None  # the --eval clips, read and matched before any long work
    warnings: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "logits" if self.description.output_kind == "logits" else "probs"

    def job(self, work: Path, name: str, options) -> ExportJob:
        """What every exporter gets for this export, writing into `work`."""
        spec = self.loaded.spec
        return ExportJob(self.module, self.description, work, name, self.data.calibration, self.onnx_metadata(),
                         options.dynamic_batch, tuple(spec.int8_float_until), spec.allow_transpose,
                         () if options.float_layers == "auto" else tuple(options.float_layers))

    def onnx_metadata(self) -> dict[str, str]:
        return {
            "edgeaudio_version": __version__,
            "arch": self.description.arch,
            "input_layout": self.loaded.spec.input_layout,
            "output_kind": self.description.output_kind,
            "source_sha256": self.loaded.sha256,
            "config": json.dumps(self.loaded.config.to_dict()),
            "labels": json.dumps(self.labels),
            "frontend": json.dumps(self.frontend.to_dict() if self.frontend is not None else None),
        }


def deploy_form(model, equalize: bool):
    """The folded model, cross-layer equalized when asked (exact too: the float64 step checks both)."""
    folded = fold_model(model)
    if equalize:
        from edgeaudio.fold.equalize import equalize_model

        equalize_model(folded)
    return folded


def prepare_source(checkpoint: Path, options, stages) -> ExportSource:
    """Load `checkpoint` and settle everything an export of it per `options` needs; InputError for anything a
    user must fix, before any long work (the plan included)."""
    from edgeaudio.checkpoint import load_checkpoint
    from edgeaudio.pipeline.data import choose_frontend, model_inputs
    from edgeaudio.pipeline.torch_run import output_names

    loaded = stages.run("load", f"loading {checkpoint}", load_checkpoint, checkpoint)
    plan = plan_export(options.requested, options.calib_method, bool(loaded.spec.int8_float_until))
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
    labelled = _eval_set(options.eval_data, labels, config.head_act) if options.eval_data else None
    data = model_inputs(options.calib, shape, choice, options.seed)
    warnings = list(loaded.warnings)
    if data.skipped_warning():
        warnings.append(data.skipped_warning())
    if choice.problem:
        warnings.append(f"{choice.problem}; the manifest records no front end (pass --frontend PRESET to set one)")
    elif frontend is None:
        warnings.append("no front-end config is known for this model; the manifest leaves `frontend` empty (pass --frontend PRESET)")
    if data.source == "synthetic" and plan.makes("int8"):
        given = "--calib synthetic" if options.calib is not None else "no --calib given"
        warnings.append(f"{given}: int8 is calibrated on {len(data.calibration)} samples of {data.kind}; "
                        f"pass --calib FOLDER of your own audio for ranges measured on what the model will hear")

    model = stages.run("fold", "folding branches, batch norms and identities", deploy_form, loaded.model, options.equalize) \
        if options.fold else loaded.model
    kind = "logits" if options.logits else "probabilities"
    description = ExportDescription(loaded.spec.name, loaded.spec.input_name, (1, *shape), tuple(output_names(loaded.model, kind)),
                                    kind, tuple(config.num_classes), config.head_act)
    module = loaded.spec.exportable(model, "logits" if options.logits else "probs")
    if options.float_layers and options.float_layers != "auto":
        from edgeaudio.pipeline.float_layers import check_names

        check_names(options.float_layers, module, checkpoint)
    return ExportSource(loaded, plan, description, model, module, data, labels, frontend, labelled, warnings)


def _eval_set(eval_data: str, labels: list[str] | None, head_act: str):
    """The --eval clips, read and matched to the model's labels."""
    from edgeaudio.datasets.labelled import match_labels, read_labelled

    if labels is None:
        raise InputError("--eval needs the model's class names to match the clips' labels: pass --labels FILE")
    labelled = read_labelled(eval_data)
    match_labels(labelled, labels, head_act == "sigmoid")
    return labelled
