"""Model registry: architecture name -> how to build it, configure it, and read its checkpoints.

Later architectures (Slow-Fast, YAMNet, LEAN-style) register a ModelSpec of their own beside
AudioRepInceptionNeXt; nothing else in the pipeline switches on the architecture.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from types import ModuleType
from typing import Any, Callable, Mapping

from torch import nn

from edgeaudio.errors import ConfigError
from edgeaudio.jsonable import unknown_fields


@dataclass(frozen=True)
class ModelSpec:
    """What the pipeline needs to know about one architecture.

    `layout` is a module with recognises(state), detect_form(state), config_from_state(state),
    config_from_official_cfg(cfg) -> (fields, form), official_cfg(config, form),
    check_strides_against_state(config, state) and loaded_warnings(model).
    """

    name: str
    title: str
    config_cls: type
    build_fn: Callable[[Any, str], nn.Module]
    forms: tuple[str, ...]
    layout: ModuleType
    presets: Mapping[str, Mapping[str, Any]]
    exportable: Callable[[nn.Module, str], nn.Module]  # (model, "probs" | "logits") -> module to convert
    input_name: str = "logmel"
    allow_transpose: bool = False  # TFLite TRANSPOSE ops in the body are an export error unless allowed
    form_labels: Mapping[str, str] | None = None  # form -> how `edgeaudio info` describes it (counted forms)
    input_layout: str = "NCHW = (batch, channels, time frames, mel bins)"
    # int8: ops of these TFLite types, and every op feeding them, stay float (the model's ends then stay float)
    int8_float_until: tuple[str, ...] = ()
    default_frontend: Callable[[Any], Any] | None = None  # config -> the FrontendConfig its inputs come from, if fixed

    def config(self, preset: str | None = None, **overrides: Any):
        """A config from the defaults, a dataset preset, then explicit overrides (None values ignored)."""
        values: dict[str, Any] = {}
        if preset is not None:
            if preset not in self.presets:
                raise ConfigError(f"unknown preset {preset!r} for {self.title}; known: {', '.join(self.presets)}")
            values.update(self.presets[preset])
        given = {k: v for k, v in overrides.items() if v is not None}
        unknown = unknown_fields(self.config_cls, given)
        if unknown:  # e.g. `info --arch lean --frames 64`: LEAN-style takes waveform windows, not frames
            known = sorted(f.name for f in fields(self.config_cls))
            raise ConfigError(f"{self.title} has no setting {', '.join(unknown)}; its settings: {', '.join(known)}")
        values.update(given)
        return replace(self.config_cls(), **values) if values else self.config_cls()

    def build(self, config, form: str = "training") -> nn.Module:
        if form not in self.forms:
            raise ConfigError(f"{self.title} has no form {form!r}; known: {', '.join(self.forms)}")
        return self.build_fn(config, form)


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    _REGISTRY[spec.name] = spec
    return spec


def get_spec(name: str) -> ModelSpec:
    """The spec registered as `name` (case-insensitive); ConfigError listing the known names otherwise."""
    key = name.lower().replace("-", "").replace("_", "")
    for spec in _REGISTRY.values():
        if spec.name == key:
            return spec
    raise ConfigError(f"unknown architecture {name!r}; known: {', '.join(sorted(_REGISTRY))}")


def spec_for_state(state: Mapping[str, Any]) -> ModelSpec | None:
    """The architecture whose key layout `state` follows, or None."""
    for spec in _REGISTRY.values():
        if spec.layout.recognises(state):
            return spec
    return None


def known_names() -> list[str]:
    return sorted(_REGISTRY)
