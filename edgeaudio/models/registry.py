"""Model registry: architecture name -> how to build it, configure it, and read its checkpoints.

Later architectures (Slow-Fast, YAMNet, LEAN-style) register a ModelSpec of their own beside
AudioRepInceptionNeXt; nothing else in the pipeline switches on the architecture.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Callable, Mapping, Protocol

from torch import nn

from edgeaudio.errors import ConfigError
from edgeaudio.jsonable import unknown_fields


class CheckpointLayout(Protocol):
    """How one architecture's checkpoints are laid out: each architecture's layout.py module is one."""

    def recognises(self, state: Mapping[str, Any]) -> bool:
        """Whether a state dict's keys follow this architecture."""

    def detect_form(self, state: Mapping[str, Any]) -> str:
        """Which form (training, merged, inference, folded) a state dict holds."""

    def config_from_state(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """Config fields the weight shapes decide (classes, widths, kernels)."""

    def config_from_official_cfg(self, cfg: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
        """(config fields, form) an official cfg states."""

    def official_cfg(self, config: Any, form: str = "training", frontend: Any = None) -> dict[str, Any]:
        """The official cfg that states `config` (for writing official-format checkpoints)."""

    def check_strides_against_state(self, config: Any, state: Mapping[str, Any]) -> str | None:
        """Why `config`'s strides cannot be those of `state`, or None."""

    def loaded_warnings(self, model: nn.Module) -> list[str]:
        """Warnings about a model just loaded (two copies of merged weights that disagree, say)."""


class KerasMapping(Protocol):
    """How a Keras weights file (HDF5) maps onto an architecture (YAMNet's keras_weights.py is one)."""

    FRONTEND_PRESET: str  # the features the Keras weights were trained on

    def recognises(self, layers: Mapping[str, Any]) -> bool:
        """Whether the file's layers follow this architecture."""

    def state_from_keras(self, layers: Mapping[str, Any]) -> dict[str, Any]:
        """The PyTorch state dict of the Keras weights (every weight used, every shape checked)."""


@dataclass(frozen=True)
class ModelSpec:
    """What the pipeline needs to know about one architecture."""

    name: str
    title: str
    config_cls: type
    build_fn: Callable[[Any, str], nn.Module]
    forms: tuple[str, ...]
    layout: CheckpointLayout
    presets: Mapping[str, Mapping[str, Any]]
    exportable: Callable[[nn.Module, str], nn.Module]  # (model, "probs" | "logits") -> module to convert
    input_name: str = "logmel"
    allow_transpose: bool = False  # TFLite TRANSPOSE ops in the body are an export error unless allowed
    form_labels: Mapping[str, str] | None = None  # form -> how `edgeaudio info` describes it (counted forms)
    input_layout: str = "NCHW = (batch, channels, time frames, mel bins)"
    # int8: ops of these TFLite types, and every op feeding them, stay float (the model's ends then stay float)
    int8_float_until: tuple[str, ...] = ()
    default_frontend: Callable[[Any], Any] | None = None  # config -> the FrontendConfig its inputs come from, if fixed
    keras: KerasMapping | None = None  # how its Keras weights files map onto it, for architectures that have them

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


def keras_specs() -> list[ModelSpec]:
    """The architectures whose Keras weights files edgeaudio reads."""
    return [spec for spec in _REGISTRY.values() if spec.keras is not None]


def known_names() -> list[str]:
    return sorted(_REGISTRY)
