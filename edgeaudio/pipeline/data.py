"""Where a model's inputs come from: the user's audio or spectrograms, split into calibration and held-out.

Held-out samples never calibrate: the int8 gate judges the model on data it was not tuned on. Audio folders
are split by file (every fifth file held out), so windows of one recording never sit on both sides.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from edgeaudio.errors import InputError
from edgeaudio.synthetic import synthetic_inputs

MIN_CALIBRATION = 16
MIN_HELD_OUT = 8
SYNTHETIC_COUNTS = (64, 64)  # calibration, held-out: 64 judge int8 agreement to a few points (see gates.py)


@dataclass
class ModelInputs:
    """Samples shaped like the model's input, float32: (N, C, T, F) spectrograms or (N, samples) waveforms."""

    source: str  # "synthetic", or the file or folder they came from
    calibration: np.ndarray
    held_out: np.ndarray
    kind: str = "the user's data"  # for synthetic inputs: what was generated
    skipped: list[str] = field(default_factory=list)  # "file: why" for audio files left out (silent, unreadable)
    # generated data only: more(n) generates n more samples of the same kind, apart from both sets (other draws),
    # for choices made before the final gate (calibration_choice.Judge); the user's data has no more to give
    more: Callable[[int], np.ndarray] | None = field(default=None, repr=False)

    def describe(self) -> dict:
        return {"source": self.source, "kind": self.kind, "calibration_samples": int(len(self.calibration)),
                "held_out_samples": int(len(self.held_out)), "skipped_files": list(self.skipped)}

    def skipped_warning(self) -> str | None:
        """One line saying how many audio files were left out and why, the first few by name; None if none were."""
        if not self.skipped:
            return None
        shown = "; ".join(self.skipped[:3]) + ("; ..." if len(self.skipped) > 3 else "")
        return f"{self.source}: {len(self.skipped)} audio file(s) left out of calibration ({shown})"


@dataclass
class FrontendChoice:
    """The front end that made a model's inputs, where it came from, and, when there is none, why.

    `problem` is set when the checkpoint's cfg states feature settings that make no valid front end: a warning
    for jobs that need none (fold, ONNX export), an error naming the fields for jobs that do (`require`).
    """

    config: Any  # FrontendConfig | None
    source: str  # "--frontend", "checkpoint", "cfg AUDIO_DATA", "architecture", or "none"
    problem: str | None = None

    def require(self, path: Path | str, job: str):
        """The config, or an InputError naming `path`, the `job` that needs it, and the fix."""
        if self.config is not None:
            return self.config
        why = f"{self.problem}; " if self.problem else "nothing says which front end the model was trained with; "
        from edgeaudio.frontend import PRESETS

        raise InputError(f"{job} needs the model's front end, but {why}pass --frontend PRESET ({', '.join(PRESETS)})", path)


def choose_frontend(preset: str | None, meta: Mapping[str, Any], cfg: Mapping[str, Any] | None, shape: tuple[int, ...], default=None) -> FrontendChoice:
    """The front-end config that made the model's inputs (one input's `shape`), or none if nothing says.

    In order: an explicit preset; the one an edgeaudio checkpoint recorded; the official preset whose sample
    rate, window and hop the official cfg states (AUDIO_DATA) and whose frames match, or the front end those
    fields make; the architecture's own (`default`, e.g. YAMNet's), if it has one. A cfg whose AUDIO_DATA fields
    contradict each other or the model gives no front end and a `problem`, not an error: most jobs need none.
    """
    from edgeaudio.frontend import PRESETS, FrontendConfig, get_preset, official_frontend

    if preset is not None:
        try:
            return FrontendChoice(get_preset(preset), "--frontend")
        except (KeyError, ValueError) as exc:
            raise InputError(str(exc).strip("'\"")) from None
    if meta.get("frontend"):
        return FrontendChoice(FrontendConfig.from_dict(meta["frontend"]), "checkpoint")
    if len(shape) != 3:
        return FrontendChoice(default, "architecture" if default is not None else "none")
    frames, mels = shape[1], shape[2]
    audio = (cfg or {}).get("AUDIO_DATA") or {}
    if {"SAMPLING_RATE", "WINDOW_LENGTH", "HOP_LENGTH"} <= set(audio):
        stated = ", ".join(f"{k} {audio[k]}" for k in ("SAMPLING_RATE", "WINDOW_LENGTH", "HOP_LENGTH", "CLIP_SECS") if k in audio)
        try:
            sr = int(audio["SAMPLING_RATE"])
            window, hop = float(audio["WINDOW_LENGTH"]), float(audio["HOP_LENGTH"])
            for config in PRESETS.values():
                if (
                    config.kind == "official_logmel"
                    and config.sample_rate == sr
                    and config.win_length == round(window * sr / 1000)
                    and config.hop_length == round(hop * sr / 1000)
                    and config.frames == frames
                    and config.n_mels == mels
                ):
                    return FrontendChoice(config, "cfg AUDIO_DATA")
            if "CLIP_SECS" in audio:  # no preset, but the cfg states everything the official features need
                return FrontendChoice(official_frontend(sr, window, hop, float(audio["CLIP_SECS"]), frames, n_mels=mels), "cfg AUDIO_DATA")
        except (TypeError, ValueError) as exc:
            problem = f"the checkpoint's cfg AUDIO_DATA ({stated}) makes no front end for its {frames}x{mels} input: {str(exc).removeprefix('invalid FrontendConfig: ')}"
            return FrontendChoice(None, "none", problem)
    return FrontendChoice(default, "architecture" if default is not None else "none")


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


def _from_audio_folder(path: Path, shape: tuple[int, ...], choice: FrontendChoice) -> ModelInputs:
    from edgeaudio.audio import AudioFormatError, audio_files
    from edgeaudio.pipeline.clip_stream import file_windows

    files = audio_files([path])
    frontend = choice.require(path, "calibrating on a folder of audio")
    if frontend.model_input_shape != tuple(shape):
        raise InputError(f"front end inputs {frontend.model_input_shape} do not fit the model's {tuple(shape)} input", path)
    windows, kept, skipped = [], [], []
    for f in files:
        try:
            inputs, _, stream = file_windows(f, frontend)  # read as a stream: a long recording is never whole
        except AudioFormatError as exc:  # one broken file in a folder of thousands should not stop an export
            skipped.append(f"{f.name}: {exc.problem}")
            continue
        silent = stream.silent()
        if silent:  # silence would only stretch the int8 ranges towards digital zero
            skipped.append(f"{f.name}: {silent}")
            continue
        windows.append(inputs)
        kept.append(f)
    if not windows:
        raise InputError(f"none of its {len(files)} audio files can calibrate ({'; '.join(skipped[:3])})", path)
    files = kept
    calib_files, held_files = _split_every_fifth(len(files)) if len(files) >= 2 * MIN_HELD_OUT else (None, None)
    if calib_files is None:
        everything = np.concatenate(windows)
        calib, held = _split_every_fifth(len(everything))
        data = ModelInputs(str(path), everything[calib], everything[held], skipped=skipped)
    else:
        data = ModelInputs(
            str(path),
            np.concatenate([w for w, keep in zip(windows, calib_files) if keep]),
            np.concatenate([w for w, keep in zip(windows, held_files) if keep]),
            skipped=skipped,
        )
    if len(data.calibration) < MIN_CALIBRATION or len(data.held_out) < MIN_HELD_OUT:
        raise InputError(
            f"gives {len(data.calibration) + len(data.held_out)} model windows from {len(files)} files; "
            f"calibration needs at least {MIN_CALIBRATION + MIN_HELD_OUT}",
            path,
        )
    return data


def synthetic_model_inputs(n: int, shape: tuple[int, ...], frontend=None, seed: int = 0) -> tuple[np.ndarray, str]:
    """(n, *shape) generated model inputs and what they are.

    Where the model's front end is known, generated audio goes through it, so the inputs span what the front end
    makes of sound; otherwise generated log-mel spectrograms (or waveforms for a waveform model).
    """
    if len(shape) == 1:
        return synthetic_inputs(n, tuple(shape), seed=seed), "generated waveforms"
    if frontend is not None and frontend.kind == "official_logmel" and frontend.model_input_shape == tuple(shape):
        from edgeaudio.frontend import clip_to_model_inputs
        from edgeaudio.synthetic import synthetic_waveform

        waves = synthetic_waveform(n, frontend.clip_samples, frontend.sample_rate, seed=seed)
        return np.concatenate([clip_to_model_inputs(w, frontend)[:1] for w in waves]), "generated audio through the model's front end"
    return synthetic_inputs(n, tuple(shape), seed=seed), "generated log-mel spectrograms"


def model_inputs(calib: str | os.PathLike | None, shape: tuple[int, ...], frontend: FrontendChoice | None = None, seed: int = 0) -> ModelInputs:
    """Samples for calibration and the parity gate, each of `shape` (one model input without the batch axis).

    `calib`: a folder of WAV files (through the chosen front end), a .npy of model inputs ((N, C, T, F)
    spectrograms or (N, samples) waveforms), or None / "synthetic" (generated, see synthetic_model_inputs).
    """
    choice = frontend or FrontendChoice(None, "none")
    if calib is None or str(calib) == "synthetic":
        n_cal, n_held = SYNTHETIC_COUNTS
        everything, kind = synthetic_model_inputs(n_cal + n_held, tuple(shape), choice.config, seed)
        more = lambda n: synthetic_model_inputs(n, tuple(shape), choice.config, seed + 1)[0]  # noqa: E731
        return ModelInputs("synthetic", everything[:n_cal], everything[n_cal:], kind=kind, more=more)
    path = Path(calib)
    if not path.exists():
        raise InputError("no such file or folder", path)
    if path.is_dir():
        return _from_audio_folder(path, shape, choice)
    if path.suffix.lower() == ".npy":
        return inputs_from_npy(path, shape)
    raise InputError("calibration data must be a folder of audio files, a .npy of model inputs, or 'synthetic'", path)
