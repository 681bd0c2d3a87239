"""`describe`: the manifest for an audio classifier no edgeaudio export made (a TFLite or ONNX file converted by
other tools), so predict, eval, listen and bench --audio can feed it audio.

What the file says is read from it (inputs and outputs: shapes, dtypes, quantization); what it cannot say (the
sample rate, how long a window is, the log-mel recipe, what the outputs are) is given by the user, and checked
against the file where the file has a say. Runtime side: numpy and an interpreter.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeaudio.errors import InputError
from edgeaudio.runtime.manifest import Manifest, manifest_path

INPUTS = ("waveform", "logmel")
OUTPUTS = {"probabilities": ("probabilities", "softmax"), "softmax-logits": ("logits", "softmax"),
           "sigmoid-logits": ("logits", "sigmoid")}


@dataclass
class DescribeOptions:
    """What the model file cannot say. input: "waveform" (raw samples) or "logmel" (spectrograms made by the
    front end `preset` names); rate: Hz; window / hop: seconds per window and between windows; outputs: one of
    OUTPUTS (probabilities as they are, or logits to turn into probabilities); labels: class names."""

    input: str
    rate: int | None = None
    window: float | None = None
    hop: float | None = None
    preset: str | None = None
    labels: list[str] | None = None
    outputs: str = "probabilities"


def _samples(shape: list[int]) -> int:
    """Samples per window of a waveform input: (samples,), (N, samples) or (N, samples, 1); -1 when dynamic."""
    if len(shape) == 1:
        return shape[0]
    if len(shape) == 2 or (len(shape) == 3 and shape[2] == 1):
        return shape[1]
    return 0


def _waveform_frontend(path: Path, shape: list[int], o: DescribeOptions):
    from edgeaudio.frontend import waveform_frontend

    samples = _samples(shape)
    if samples == 0:
        raise InputError(f"its input has shape {shape}, not a waveform ((samples,) or (N, samples)); "
                         "for a spectrogram input pass --input logmel --preset NAME", path)
    if o.rate is None:
        raise InputError("--input waveform needs --rate: a model file does not record its sample rate", path)
    if o.window is None and samples < 0:
        raise InputError(f"its input length is dynamic ({shape}): pass --window SECONDS", path)
    wanted = int(round(o.window * o.rate)) if o.window is not None else samples
    if samples > 0 and wanted != samples:
        raise InputError(f"its input takes {samples} samples ({samples / o.rate:g} s at {o.rate} Hz), "
                         f"but --window {o.window} s is {wanted} samples", path)
    hop = int(round(o.hop * o.rate)) if o.hop is not None else None
    if hop is not None and not 1 <= hop <= wanted:
        raise InputError(f"--hop {o.hop} s must be between one sample and one window ({wanted / o.rate:g} s)", path)
    return waveform_frontend(o.rate, wanted, hop)


def _logmel_frontend(path: Path, shape: list[int], o: DescribeOptions):
    import dataclasses

    from edgeaudio.frontend import PRESETS

    if o.preset is None:
        raise InputError("a log-mel model's STFT and mel settings cannot be read from the file: pass --preset NAME "
                         f"({', '.join(PRESETS)})", path)
    if o.preset not in PRESETS:
        raise InputError(f"unknown --preset {o.preset!r}; known presets: {', '.join(PRESETS)}", path)
    config = PRESETS[o.preset]
    if o.rate is not None and o.rate != config.sample_rate:
        raise InputError(f"--rate {o.rate} contradicts preset {o.preset} ({config.sample_rate} Hz)", path)
    if o.window is not None and abs(o.window - config.clip_seconds) > 0.5 / config.sample_rate * config.hop_length:
        raise InputError(f"--window {o.window} s contradicts preset {o.preset} ({config.clip_seconds} s)", path)
    frames, mels = config.frames, config.n_mels
    if len(shape) != 4 or sorted(shape[1:]) != sorted([1, frames, mels]) or shape[1:] not in ([1, frames, mels], [frames, mels, 1]):
        raise InputError(f"its input has shape {shape}; preset {o.preset} makes (N, 1, {frames}, {mels}) "
                         f"or (N, {frames}, {mels}, 1) spectrograms", path)
    if o.hop is not None:
        hop_frames = int(round(o.hop * config.sample_rate / config.hop_length))
        if not 1 <= hop_frames <= frames:
            raise InputError(f"--hop {o.hop} s must be between one frame and one window ({config.clip_seconds} s)", path)
        config = dataclasses.replace(config, window_hop_frames=hop_frames)
    return config


def describe_model(model_path: str | os.PathLike, options: DescribeOptions) -> tuple[Manifest, Path]:
    """The manifest of a model made elsewhere, written beside it: (the manifest, where it was written)."""
    from importlib import metadata

    from edgeaudio.hashing import file_sha256
    from edgeaudio.runtime.runner import Runner

    path = Path(model_path)
    if not path.is_file():
        raise InputError("no such file" if not path.exists() else "is not a file", path)
    if options.input not in INPUTS:
        raise InputError(f"--input must be one of {', '.join(INPUTS)}, got {options.input!r}")
    if options.outputs not in OUTPUTS:
        raise InputError(f"--outputs must be one of {', '.join(OUTPUTS)}, got {options.outputs!r}")
    runner = Runner(path)
    inputs, outputs = runner.model.file_tensors()
    if len(inputs) != 1:
        raise InputError(f"has {len(inputs)} inputs; edgeaudio feeds models that take one audio input", path)
    shape = inputs[0].shape
    if options.input == "waveform":
        frontend = _waveform_frontend(path, shape, options)
        inputs[0].layout = "waveform"
    else:
        frontend = _logmel_frontend(path, shape, options)
        inputs[0].layout = "NCHW" if shape[1] == 1 else "NHWC"
    classes = outputs[0].shape[-1]
    if classes <= 0:
        raise InputError(f"its first output has shape {outputs[0].shape}: the class count cannot be read", path)
    if options.labels is not None and len(options.labels) != classes:
        raise InputError(f"{len(options.labels)} labels given for a model with {classes} classes", path)
    kind, head_act = OUTPUTS[options.outputs]
    outputs[0].kind = kind
    sha = file_sha256(path)
    precision = "int8" if np.dtype(inputs[0].dtype).kind in "iu" else "fp32"
    manifest = Manifest(
        model_file=path.name, model_sha256=sha, format=runner.format, precision=precision, arch="external",
        config={"head_act": head_act, "num_classes": classes}, inputs=inputs, outputs=outputs,
        source={"file": path.name, "sha256": sha, "form": "made elsewhere, described by edgeaudio describe"},
        export_options={"describe": {k: v for k, v in vars(options).items() if k != "labels"}},
        tools={"edgeaudio": metadata.version("edgeaudio")}, labels=options.labels, frontend=frontend.to_dict())
    return manifest, manifest.write(manifest_path(path))
