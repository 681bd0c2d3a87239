"""Re-running the parity check of an exported model, for CI or on a device.

Without a reference checkpoint, the model is run on the held-out inputs recorded at export time and compared
with the original PyTorch model's float64 outputs recorded beside them, under the bounds and noise floor its
manifest states: numpy and an interpreter are all it needs. With `reference`, the checkpoint is loaded
(PyTorch needed) and run in float64 and float32 on the recorded inputs or on `data`, and the float bounds are
set anew from the noise floor measured on those inputs, with the factor the export used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeaudio.errors import InputError
from edgeaudio.hashing import file_sha256
from edgeaudio.parity import Bounds, ParityCheck, check
from edgeaudio.runtime.manifest import read_manifest
from edgeaudio.runtime.runner import Runner


@dataclass
class VerifyResult:
    model: str
    format: str
    precision: str
    backend: str
    reference: str
    check: ParityCheck
    warnings: list[str] = field(default_factory=list)
    calibration: str | None = None  # int8: what it was calibrated on ("synthetic" or the user's data), per its manifest
    per_layer: list | None = None
    input_rounding: ParityCheck | None = None  # with per_layer: the fp32 twin with only its input rounded to int8

    @property
    def passed(self) -> bool:
        return self.check.passed

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "format": self.format,
            "precision": self.precision,
            "backend": self.backend,
            "reference": self.reference,
            "passed": self.passed,
            "warnings": list(self.warnings),
            "calibration": self.calibration,
            "check": self.check.to_dict(),
            "per_layer": None if self.per_layer is None else [layer.to_dict() for layer in self.per_layer],
            "input_rounding": None if self.input_rounding is None else self.input_rounding.to_dict(),
        }


def _recorded(model_path: Path, expected_file: str | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    if not expected_file:
        raise InputError("its manifest records no expected outputs; verify it with --reference CKPT", model_path)
    path = model_path.with_name(expected_file)
    if not path.exists():
        raise InputError(f"expected outputs {path.name} are missing beside it; verify with --reference CKPT", model_path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            inputs = npz["inputs"]
            reference = {k.split("/", 1)[1]: npz[k] for k in npz.files if k.startswith("reference/")}
    except (ValueError, KeyError, OSError) as exc:
        raise InputError(f"expected outputs are unreadable: {exc}", path) from None
    return inputs, reference


def _from_checkpoint(reference: Path, inputs: np.ndarray, kind: str, precision: str) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """The checkpoint's float64 outputs on `inputs`, and the floor of a `precision` step measured on them."""
    from edgeaudio.checkpoint import load_checkpoint
    from edgeaudio.fold import fold_model
    from edgeaudio.pipeline.gates import noise_floor
    from edgeaudio.pipeline.reference import measure_reference, with_half_weights
    from edgeaudio.pipeline.torch_run import run_module

    loaded = load_checkpoint(reference)
    output = "logits" if kind == "logits" else "probs"
    measured = measure_reference(loaded.model, inputs, output)
    if precision != "fp16":
        return measured.exact, measured.noise_floor
    half = with_half_weights(loaded.spec.exportable(fold_model(loaded.model), output))
    return measured.exact, noise_floor(measured.exact, dict(zip(measured.exact, run_module(half, inputs))))


def verify_model(
    model_path: str | os.PathLike,
    reference: str | os.PathLike | None = None,
    data: str | os.PathLike | None = None,
    per_layer: bool = False,
    threads: int | None = None,
) -> VerifyResult:
    """Parity of an exported model against the original, with the bounds its manifest states."""
    model_path = Path(model_path)
    runner = Runner(model_path, threads)
    manifest = read_manifest(model_path)
    warnings: list[str] = []
    tampered = file_sha256(model_path) != manifest.model_sha256
    names = [o.name for o in manifest.outputs]
    kind = manifest.outputs[0].kind or "probabilities"
    if reference is None:
        if data is not None:
            raise InputError("--data needs --reference CKPT: reference outputs are recorded only for the export's own inputs")
        inputs, expected = _recorded(model_path, manifest.expected_file)
        reference_name = "original PyTorch, float64 (recorded at export)"
    else:
        if data is not None:
            from edgeaudio.pipeline.data import inputs_from_npy

            loaded = inputs_from_npy(Path(data), runner.input_sample_shape)
            inputs = np.concatenate([loaded.calibration, loaded.held_out])
        else:
            inputs, _ = _recorded(model_path, manifest.expected_file)
        expected, measured_floor = _from_checkpoint(Path(reference), inputs, kind, manifest.precision)
        reference_name = f"original PyTorch ({Path(reference).name}), float64"
    outputs = runner.run(inputs)
    pairs = {name: (expected[name], out) for name, out in zip(names, outputs)}
    bounds = {name: Bounds(**manifest.bounds[name]) for name in names if name in manifest.bounds}
    floor, basis = dict(manifest.noise_floor), manifest.gate_basis
    if reference is not None and manifest.precision in ("fp32", "fp16"):  # bounds from the floor on these inputs
        from edgeaudio.pipeline.gates import FLOOR_FACTOR, bounds_for

        factor = float((manifest.export_options.get("float_gate") or {}).get("factor", FLOOR_FACTOR))
        activation = manifest.config.get("head_act", "softmax")
        floor, bounds = measured_floor, bounds_for(manifest.precision, names, activation, measured_floor, factor)
    result = check(f"{manifest.format} {manifest.precision}", reference_name, pairs, bounds, floor, basis)
    if tampered:  # not the file this manifest describes: a gate in CI must not pass a different model
        result.failures.insert(0, "model file: sha256 differs from the manifest (it changed after export)")
    layers = rounding = None
    if per_layer:
        if manifest.precision != "int8" or not manifest.float_model:
            raise InputError("--per-layer needs an int8 TFLite model exported with its fp32 twin", model_path)
        from edgeaudio.runtime.diagnosis import input_rounding_outputs, per_layer_sqnr

        twin = model_path.with_name(manifest.float_model)
        layers = per_layer_sqnr(model_path, twin, inputs.transpose(0, 2, 3, 1) if inputs.ndim == 4 else inputs, manifest.layer_names)
        found = input_rounding_outputs(runner.model.inputs[0], twin, inputs)  # the int8 model, loaded once
        if found is not None:
            step, clean, rounded = found
            pairs = {name: (a, b) for name, a, b in zip(names, clean, rounded)}
            rounding = check(f"fp32, input on the int8 grid ({step:.3g})", "fp32 twin", pairs, bounds)
    calibration = None
    if manifest.precision == "int8":
        options = manifest.export_options
        calibration = options.get("calibration") or "unrecorded"
        if calibration == "synthetic":
            calibration += f" ({options.get('calibration_kind', 'generated data')})"
    return VerifyResult(str(model_path), manifest.format, manifest.precision, runner.backend, reference_name, result, warnings,
                        calibration, layers, rounding)
