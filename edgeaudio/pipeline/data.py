"""Where a model's inputs come from: the user's audio or spectrograms, split into calibration and held-out.

Held-out samples never calibrate: the int8 gate judges the model on data it was not tuned on. Audio folders
are split by file (every fifth file held out), so windows of one recording never sit on both sides.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from edgeaudio.errors import InputError
from edgeaudio.synthetic import synthetic_inputs

MIN_CALIBRATION = 16
MIN_HELD_OUT = 8
SYNTHETIC_COUNTS = (64, 32)  # calibration, held-out
AUDIO_SUFFIXES = (".wav", ".wave")


@dataclass
class ModelInputs:
    """Samples shaped like the model's input, float32: (N, C, T, F) spectrograms or (N, samples) waveforms."""

    source: str
    calibration: np.ndarray
    held_out: np.ndarray
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> dict:
        return {"source": self.source, "calibration_samples": int(len(self.calibration)), "held_out_samples": int(len(self.held_out))}


def choose_frontend(preset: str | None, meta: Mapping[str, Any], cfg: Mapping[str, Any] | None, shape: tuple[int, ...], default=None):
    """The front-end config that made the model's inputs (one input's `shape`), or None if nothing says.

    In order: an explicit preset; the one an edgeaudio checkpoint recorded; the official preset whose sample
    rate, window and hop the official cfg states (AUDIO_DATA) and whose frames match; the architecture's own
    (`default`, e.g. YAMNet's), if it has one.
    """
    from edgeaudio.frontend import PRESETS, FrontendConfig, get_preset, official_frontend

    if preset is not None:
        try:
            return get_preset(preset)
        except (KeyError, ValueError) as exc:
            raise InputError(str(exc).strip("'\"")) from None
    if meta.get("frontend"):
        return FrontendConfig.from_dict(meta["frontend"])
    if len(shape) != 3:
        return default
    frames, mels = shape[1], shape[2]
    audio = (cfg or {}).get("AUDIO_DATA") or {}
    if {"SAMPLING_RATE", "WINDOW_LENGTH", "HOP_LENGTH"} <= set(audio):
        sr = int(audio["SAMPLING_RATE"])
        for config in PRESETS.values():
            if (
                config.kind == "official_logmel"
                and config.sample_rate == sr
                and config.win_length == round(float(audio["WINDOW_LENGTH"]) * sr / 1000)
                and config.hop_length == round(float(audio["HOP_LENGTH"]) * sr / 1000)
                and config.frames == frames
                and config.n_mels == mels
            ):
                return config
        if "CLIP_SECS" in audio:  # no preset, but the cfg states everything the official features need
            try:
                return official_frontend(sr, float(audio["WINDOW_LENGTH"]), float(audio["HOP_LENGTH"]),
                                         float(audio["CLIP_SECS"]), frames, n_mels=mels)
            except ValueError as exc:
                raise InputError(f"the checkpoint's cfg AUDIO_DATA does not make a valid front end: {exc}") from None
    return default


def _split_every_fifth(n: int) -> tuple[np.ndarray, np.ndarray]:
    held = np.zeros(n, dtype=bool)
    held[4::5] = True
    if held.sum() < MIN_HELD_OUT:
        held[:] = False
        held[n - MIN_HELD_OUT :] = True
    return ~held, held


def _describe_shape(shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return f"(N, {shape[0]}) waveforms"
    return f"(N, {', '.join(map(str, shape))}) spectrograms"


def inputs_from_npy(path: Path, shape: tuple[int, ...]) -> ModelInputs:
    """Model inputs from a .npy of (N, *shape) (a single-channel spectrogram's channel axis may be left out)."""
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"is not a readable .npy array: {exc}", path) from None
    if len(shape) == 3 and data.ndim == 3 and shape[0] == 1:
        data = data[:, None]
    if data.ndim != len(shape) + 1 or tuple(data.shape[1:]) != tuple(shape):
        raise InputError(f"has shape {data.shape}; the model takes {_describe_shape(shape)}", path)
    if not np.issubdtype(data.dtype, np.floating) or not np.all(np.isfinite(data)):
        raise InputError("must hold finite floating-point model inputs", path)
    needed = MIN_CALIBRATION + MIN_HELD_OUT
    if len(data) < needed:
        raise InputError(f"holds {len(data)} samples; calibration needs at least {needed} ({MIN_CALIBRATION} to calibrate, {MIN_HELD_OUT} held out)", path)
    calib, held = _split_every_fifth(len(data))
    data = data.astype(np.float32)
    return ModelInputs(str(path), data[calib], data[held])


def _from_audio_folder(path: Path, shape: tuple[int, ...], frontend) -> ModelInputs:
    from edgeaudio.audio import check_not_silent, load_audio
    from edgeaudio.frontend import clip_to_model_inputs

    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    if not files:
        raise InputError("holds no .wav files to calibrate with", path)
    if frontend is None:
        raise InputError(
            "is a folder of audio, but nothing says which front end the model was trained with; "
            "pass --frontend PRESET (vggsound, epic-sounds, epic-kitchens, speechcommands, nsynth, urbansound8k)",
            path,
        )
    if frontend.model_input_shape != tuple(shape):
        raise InputError(f"front end inputs {frontend.model_input_shape} do not fit the model's {tuple(shape)} input", path)
    windows = []
    for f in files:
        wave = load_audio(f, frontend.sample_rate)
        check_not_silent(wave, f)
        windows.append(clip_to_model_inputs(wave, frontend))
    calib_files, held_files = _split_every_fifth(len(files)) if len(files) >= 2 * MIN_HELD_OUT else (None, None)
    if calib_files is None:
        everything = np.concatenate(windows)
        calib, held = _split_every_fifth(len(everything))
        data = ModelInputs(str(path), everything[calib], everything[held])
    else:
        data = ModelInputs(
            str(path),
            np.concatenate([w for w, keep in zip(windows, calib_files) if keep]),
            np.concatenate([w for w, keep in zip(windows, held_files) if keep]),
        )
    if len(data.calibration) < MIN_CALIBRATION or len(data.held_out) < MIN_HELD_OUT:
        raise InputError(
            f"gives {len(data.calibration) + len(data.held_out)} model windows from {len(files)} files; "
            f"calibration needs at least {MIN_CALIBRATION + MIN_HELD_OUT}",
            path,
        )
    return data


def model_inputs(calib: str | os.PathLike | None, shape: tuple[int, ...], frontend=None, seed: int = 0) -> ModelInputs:
    """Samples for calibration and the parity gate, each of `shape` (one model input without the batch axis).

    `calib`: a folder of WAV files (through `frontend`), a .npy of model inputs ((N, C, T, F) spectrograms or
    (N, samples) waveforms), "synthetic" (with a warning), or None (synthetic held-out samples only: enough
    for float checks).
    """
    if calib is None or str(calib) == "synthetic":
        n_cal, n_held = SYNTHETIC_COUNTS
        everything = synthetic_inputs(n_cal + n_held, tuple(shape), seed=seed)
        warnings = []
        if calib is not None:
            kind = "waveforms" if len(shape) == 1 else "log-mel spectrograms"
            warnings.append(f"calibrating on synthetic {kind}: int8 accuracy on real audio is unverified")
        return ModelInputs("synthetic", everything[:n_cal], everything[n_cal:], warnings)
    path = Path(calib)
    if not path.exists():
        raise InputError("no such file or folder", path)
    if path.is_dir():
        return _from_audio_folder(path, shape, frontend)
    if path.suffix.lower() == ".npy":
        return inputs_from_npy(path, shape)
    raise InputError("calibration data must be a folder of .wav files, a .npy of model inputs, or 'synthetic'", path)
