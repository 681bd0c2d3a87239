"""Loading a checkpoint of any supported kind into a model, strictly, and saying what was found.

Supported containers: the official PySlowFast dict (`epoch`, `model_state`, `optimizer_state`, `cfg` YAML),
edgeaudio's own files (which carry their config), a bare state dict and a DDP (`module.`-prefixed) one, and
Keras weights files (HDF5) of a model with a Keras mapping (YAMNet's `yamnet.h5`), which bring the front end
the official weights were trained on.
The architecture comes from the key layout (or `arch`), the form from which weights are present, and the
config from the weight shapes first, then the official cfg, then defaults. Where the cfg contradicts the
shapes, the shapes win and a warning says so; where the weights contradict the architecture, nothing loads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields as dataclass_fields, replace
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from edgeaudio.checkpoint.reader import KerasWeights, read_checkpoint_file
from edgeaudio.errors import CheckpointError, InputError
from edgeaudio.hashing import file_sha256
from edgeaudio.jsonable import to_tuples
from edgeaudio.models import get_spec, known_names, spec_for_state
from edgeaudio.models.registry import ModelSpec

EDGEAUDIO_KEY = "edgeaudio"
FORMAT_VERSION = 1
CONTAINERS = {
    "official": "official PySlowFast checkpoint (epoch, model_state, optimizer_state, cfg)",
    "edgeaudio": "edgeaudio checkpoint",
    "state_dict": "bare state dict",
    "ddp_state_dict": "DDP state dict ('module.' prefix)",
    "keras": "Keras weights file (HDF5, save_weights layout)",
}


@dataclass
class LoadedCheckpoint:
    """A checkpoint read, understood and loaded into a model in eval mode."""

    path: Path
    sha256: str
    container: str  # a key of CONTAINERS
    spec: ModelSpec
    config: Any
    form: str
    model: nn.Module
    epoch: int | None = None
    warnings: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)  # edgeaudio files: what they recorded about their source
    cfg: dict | None = None  # official files: the parsed cfg YAML

    def describe(self) -> str:
        """One line: what the file is."""
        epoch = f", epoch {self.epoch}" if self.epoch is not None else ""
        return f"{CONTAINERS[self.container]}; {self.spec.title}, {self.form} form{epoch}"


def load_checkpoint(
    path: str | os.PathLike, arch: str | None = None, overrides: Mapping[str, Any] | None = None
) -> LoadedCheckpoint:
    """Read `path` and return the model it holds, loaded strictly, in eval mode.

    `overrides` sets config fields the weights cannot tell (frames, mels, strides); an override that
    contradicts the weights' shapes is an error. Raises CheckpointError (one line, naming the file).
    """
    path = Path(path)
    obj = read_checkpoint_file(path)
    try:
        if isinstance(obj, KerasWeights):
            return _load_keras(path, obj, arch, dict(overrides or {}))
        return _load(path, obj, arch, dict(overrides or {}))
    except InputError as exc:  # errors raised below without the file's name get it here
        if exc.path is not None:
            raise
        raise CheckpointError(exc.problem, path) from None


def _load(path: Path, obj: Any, arch: str | None, overrides: dict[str, Any]) -> LoadedCheckpoint:
    container, state, cfg_text, meta, epoch = _unwrap(path, obj)
    return _load_state(path, container, state, cfg_text, meta, epoch, arch, overrides)


def _load_keras(path: Path, weights: KerasWeights, arch: str | None, overrides: dict[str, Any]) -> LoadedCheckpoint:
    """A Keras weights file through the architecture whose Keras layer names it follows (the registry's specs
    with a Keras mapping); its front end goes into `meta` and the front end's patch size into the config (unless
    `overrides` say otherwise)."""
    from edgeaudio.frontend import get_preset
    from edgeaudio.models import keras_specs

    spec = next((s for s in keras_specs() if s.keras.recognises(weights.layers)), None)
    if spec is None:
        sample = ", ".join(list(weights.layers)[:3]) or "none"
        known = ", ".join(s.name for s in keras_specs())
        raise CheckpointError(
            f"is a Keras weights file whose layers follow no architecture edgeaudio maps from Keras (first layers "
            f"with weights: {sample}); known: {known}",
            path,
        )
    if arch is not None and get_spec(arch).name != spec.name:
        raise CheckpointError(f"holds Keras weights of {spec.title}, not of {get_spec(arch).title}", path)
    frontend = get_preset(spec.keras.FRONTEND_PRESET)
    meta = {"arch": spec.name, "frontend": frontend.to_dict(), "keras_version": weights.keras_version}
    sized = {"frames": frontend.frames, "mels": frontend.n_mels, **overrides}
    return _load_state(path, "keras", spec.keras.state_from_keras(weights.layers), None, meta, None, arch, sized)


def _load_state(
    path: Path,
    container: str,
    state: dict[str, torch.Tensor],
    cfg_text: str | None,
    meta: dict,
    epoch: int | None,
    arch: str | None,
    overrides: dict[str, Any],
) -> LoadedCheckpoint:
    if meta.get("arch"):
        spec = get_spec(meta["arch"])
    elif arch is not None:
        spec = get_spec(arch)
        if not spec.layout.recognises(state):
            raise CheckpointError(f"the weights do not follow {spec.title}'s key layout", path)
    else:
        spec = spec_for_state(state)
        if spec is None:
            sample = ", ".join(list(state)[:3])
            raise CheckpointError(
                f"its weights follow no architecture edgeaudio knows (first keys: {sample}); "
                f"known: {', '.join(known_names())}",
                path,
            )
    form = spec.layout.detect_form(state)
    if meta.get("form") and meta["form"] != form:
        raise CheckpointError(f"says it is in {meta['form']} form but its weights are in {form} form", path)

    warnings: list[str] = []
    cfg = _parse_yaml(path, cfg_text) if cfg_text is not None else None
    config = _resolve_config(path, spec, state, cfg, meta, overrides, form, warnings)
    contradiction = spec.layout.check_strides_against_state(config, state)
    if contradiction:
        raise CheckpointError(contradiction, path)
    model = spec.build(config, form)
    _load_strict(path, model, state, spec, form)
    model.eval()
    warnings.extend(spec.layout.loaded_warnings(model))
    return LoadedCheckpoint(path, file_sha256(path), container, spec, config, form, model, epoch, warnings, meta, cfg)


def _unwrap(path: Path, obj: Any) -> tuple[str, dict[str, torch.Tensor], str | None, dict, int | None]:
    """(container, state dict, official cfg text, edgeaudio meta, epoch) of a loaded object."""
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"holds a {type(obj).__name__}, not a dict of weights", path)
    cfg_text, meta, epoch = None, {}, None
    if isinstance(obj.get(EDGEAUDIO_KEY), Mapping):
        container, meta, state = "edgeaudio", dict(obj[EDGEAUDIO_KEY]), obj.get("model_state")
        if meta.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(f"edgeaudio format version {meta.get('format_version')} is not {FORMAT_VERSION}", path)
    elif "model_state" in obj:
        container, state = "official", obj["model_state"]
        cfg_text = obj.get("cfg")
        if cfg_text is not None and not isinstance(cfg_text, str):
            raise CheckpointError(f"its cfg is a {type(cfg_text).__name__}, expected the YAML text cfg.dump() writes", path)
        epoch = obj.get("epoch") if isinstance(obj.get("epoch"), int) else None
    elif obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        container, state = "state_dict", obj
    else:
        keys = ", ".join(map(str, list(obj)[:5])) or "none"
        raise CheckpointError(f"is a dict without model weights (keys: {keys}); expected model_state or a state dict", path)
    if not isinstance(state, Mapping) or not state:
        raise CheckpointError("its model_state is empty or not a dict of tensors", path)
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"its model_state has entries that are not named tensors: {bad[:3]}", path)
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
        if container == "state_dict":
            container = "ddp_state_dict"
    return container, dict(state), cfg_text, meta, epoch


def _resolve_config(
    path: Path,
    spec: ModelSpec,
    state: Mapping[str, torch.Tensor],
    cfg: Mapping[str, Any] | None,
    meta: Mapping[str, Any],
    overrides: Mapping[str, Any],
    form: str,
    warnings: list[str],
) -> Any:
    known = {f.name for f in dataclass_fields(spec.config_cls)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise CheckpointError(f"unknown config overrides: {', '.join(unknown)}", path)
    shape_fields = spec.layout.config_from_state(state)
    stated: dict[str, Any] = {}
    source = None
    if meta.get("config") is not None:
        stated, source = dict(spec.config_cls.from_dict(meta["config"]).__dict__), "its edgeaudio config"
    elif cfg is not None:
        stated, cfg_form = spec.layout.config_from_official_cfg(cfg)
        source = "cfg"
        if cfg_form is not None and cfg_form != form:
            warnings.append(f"cfg announces the {cfg_form} form but the weights are in {form} form; using the weights")
    for name, value in overrides.items():
        if name in shape_fields and to_tuples(value) != shape_fields[name]:
            raise CheckpointError(f"option {name}={value} contradicts the weights, which say {shape_fields[name]}", path)
    fields: dict[str, Any] = dict(stated)
    for name, value in shape_fields.items():
        said = stated.get(name)
        if said is not None and said != value and not _reparam_only_difference(name, said, value, form):
            if source == "cfg":
                warnings.append(f"cfg says {name}={_plain(said)} but the weights say {_plain(value)}; using the weights")
            else:
                raise CheckpointError(f"{source} says {name}={_plain(said)} but the weights say {_plain(value)}", path)
        if not (name in stated and _reparam_only_difference(name, stated[name], value, form)):
            fields[name] = value
    if source is None:
        assumed = [n for n in ("frames", "mels") if n not in overrides]
        if assumed:
            default = spec.config_cls()
            told = ", ".join(f"{n}={getattr(default, n)}" for n in assumed)
            warnings.append(f"no config in the file: assuming {told} and the default strides; set them if different")
    fields.update({k: to_tuples(v) for k, v in overrides.items()})
    return replace(spec.config_cls(), **fields)


def _reparam_only_difference(name: str, said: Any, value: Any, form: str) -> bool:
    """Reparameterised weights keep only the large kernel: medium/small sizes from a cfg are not contradicted."""
    if name not in ("time_kernels", "freq_kernels") or form in ("training", "merged"):
        return False
    return all(s[0] == v[0] for s, v in zip(said, value))


def _parse_yaml(path: Path, text: str) -> Mapping[str, Any]:
    import yaml

    try:
        cfg = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise CheckpointError(f"its cfg is not valid YAML{line}", path) from None
    if not isinstance(cfg, Mapping):
        raise CheckpointError("its cfg is not a YAML mapping of config sections", path)
    return cfg


def _load_strict(path: Path, model: nn.Module, state: Mapping[str, torch.Tensor], spec: ModelSpec, form: str) -> None:
    expected = model.state_dict()
    # num_batches_tracked counts training steps and never changes an output; old files lack it
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing ({_few(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected ({_few(unexpected)})")
    if problems:
        raise CheckpointError(f"weights do not match {spec.title} in {form} form: " + "; ".join(problems), path)
    mismatched = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if mismatched:
        k = mismatched[0]
        more = f" (and {len(mismatched) - 1} more)" if len(mismatched) > 1 else ""
        raise CheckpointError(
            f"{k} has shape {tuple(state[k].shape)} but the architecture needs {tuple(expected[k].shape)}{more}", path
        )
    nonfinite = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if nonfinite:
        raise CheckpointError(f"weights contain NaN or infinity: {_few(nonfinite)}", path)
    full = {k: state.get(k, expected[k]) for k in expected}
    model.load_state_dict(full, strict=True)


def _few(keys: list[str], n: int = 3) -> str:
    return ", ".join(keys[:n]) + (", ..." if len(keys) > n else "")


def _plain(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    return str(value)

