"""What a model is: its input, classes, and parameters and MACs in each form (training, official deploy, folded)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

from edgeaudio.checkpoint import LoadedCheckpoint, load_checkpoint
from edgeaudio.counting import COUNTING_RULE, ModelCounts, count_model
from edgeaudio.models import get_spec
from edgeaudio.models.registry import ModelSpec

MERGED_LABEL = "official merged (branches and a_reparam/b_reparam both stored)"


@dataclass
class FormCounts:
    form: str
    label: str
    counts: ModelCounts
    in_file: bool

    def to_dict(self) -> dict:
        return {"form": self.form, "label": self.label, "in_file": self.in_file, **self.counts.to_dict()}


@dataclass
class ModelInfo:
    """Everything `edgeaudio info` reports."""

    arch: str
    title: str
    config: dict
    input_shape: tuple[int, ...]
    input_layout: str
    classes: tuple[int, ...]
    forms: list[FormCounts]
    counting_rule: str
    source: str | None = None
    found: str | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "arch": self.arch,
            "title": self.title,
            "source": self.source,
            "found": self.found,
            "warnings": list(self.warnings),
            "input": {"shape": list(self.input_shape), "layout": self.input_layout, "dtype": "float32"},
            "classes": list(self.classes),
            "config": self.config,
            "counting_rule": self.counting_rule,
            "forms": [f.to_dict() for f in self.forms],
        }


def describe(spec: ModelSpec, config: Any, loaded: LoadedCheckpoint | None = None) -> ModelInfo:
    """Count every form of `spec` built with `config` (counts depend on shapes, not on weight values)."""
    forms = []
    labels = dict(spec.form_labels or {form: form for form in spec.forms})
    if loaded is not None and loaded.form == "merged":
        labels = {"training": labels["training"], "merged": MERGED_LABEL, **labels}
    for form, label in labels.items():
        if form not in spec.forms:
            continue
        model = spec.build(config, form)
        forms.append(FormCounts(form, label, count_model(model, config.input_shape), loaded is not None and loaded.form == form))
    return ModelInfo(
        arch=spec.name,
        title=spec.title,
        config=config.to_dict(),
        input_shape=config.input_shape,
        input_layout=spec.input_layout,
        classes=tuple(config.num_classes),
        forms=forms,
        counting_rule=COUNTING_RULE,
        source=None if loaded is None else str(loaded.path),
        found=None if loaded is None else loaded.describe(),
        warnings=() if loaded is None else tuple(loaded.warnings),
    )


def info_for_checkpoint(path: str | os.PathLike, overrides: Mapping[str, Any] | None = None) -> ModelInfo:
    loaded = load_checkpoint(path, overrides=overrides)
    return describe(loaded.spec, loaded.config, loaded)


def info_for_arch(arch: str, preset: str | None = None, **overrides: Any) -> ModelInfo:
    spec = get_spec(arch)
    return describe(spec, spec.config(preset, **overrides))
