"""`FrontendConfig`: one frozen, JSON-serialisable description of a log-mel feature pipeline.

A config says everything needed to turn a waveform into model inputs: the STFT, the mel filterbank, the log,
and how a clip is cut into model windows. It travels with an exported model (as a plain dict in its metadata)
so the Raspberry Pi side rebuilds exactly the features the model was trained on.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

KINDS = ("official_logmel", "yamnet", "yamnet_waveform", "waveform")
WAVEFORM_KINDS = ("yamnet_waveform", "waveform")  # models that take raw samples and compute their features inside
MEL_SCALES = ("htk", "tf")
PAD_MODES = ("constant", "reflect")
# How a clip shorter than one model window is completed (see windows.py):
#   edge_frames  - features of the whole clip, last frame repeated (AudioRepInceptionNeXt / auditory-slow-fast)
#   edge_samples - waveform padded by repeating its last sample, then features (the official UrbanSound8K loader)
#   yamnet_zeros - waveform zero-padded to a whole number of patch hops (YAMNet's features.pad_waveform)
CLIP_PADS = ("edge_frames", "edge_samples", "yamnet_zeros")


@dataclass(frozen=True)
class FrontendConfig:
    """Every parameter of a feature pipeline; validated on construction.

    kind: "official_logmel" (AudioRepInceptionNeXt / auditory-slow-fast), "yamnet", or "yamnet_waveform" (a
        model that computes YAMNet's log-mel inside its graph: the runtime cuts raw waveform windows of
        clip_samples samples and the other fields say what the graph computes).
    sample_rate: Hz the waveform must have.
    n_fft, win_length, hop_length: STFT sizes in samples; a periodic Hann window of win_length samples sits in
        the middle of each n_fft frame (librosa's pad_center), magnitude spectrum (power 1).
    n_mels, fmin, fmax, mel_scale: mel filterbank; "htk" is librosa.filters.mel(htk=True, norm=None), "tf" is
        tf.signal.linear_to_mel_weight_matrix.
    log_offset: features are log(mel + log_offset).
    center, pad_mode: centre each frame on its sample (padding n_fft // 2 at both ends) as librosa does.
    frames: time frames in one model window; window_hop_frames: hop between consecutive windows.
    clip_seconds: waveform duration one model window is computed from (the official CLIP_SECS).
    clip_pad: how a clip shorter than one window is completed (one of CLIP_PADS).
    ensemble_views: views per clip the official evaluation averaged (TEST.NUM_ENSEMBLE_VIEWS); informative,
        and usable with clip_to_model_inputs(views=...).
    """

    kind: str
    sample_rate: int
    n_fft: int
    win_length: int
    hop_length: int
    n_mels: int
    fmin: float
    fmax: float
    mel_scale: str
    log_offset: float
    center: bool
    pad_mode: str
    frames: int
    window_hop_frames: int
    clip_seconds: float
    clip_pad: str
    ensemble_views: int = 1

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ValueError("invalid FrontendConfig: " + "; ".join(problems))

    # Derived sizes, named once so every caller agrees on them.
    @property
    def n_bins(self) -> int:
        """Rows of the one-sided spectrum: n_fft // 2 + 1."""
        return self.n_fft // 2 + 1

    @property
    def clip_samples(self) -> int:
        """round(sample_rate * clip_seconds), the official `clip_size`."""
        return int(round(self.sample_rate * self.clip_seconds))

    @property
    def window_samples(self) -> int:
        """Samples one model window is computed from.

        The official loaders slice `samples[start : start + clip_size - 1]` (one sample short of clip_size);
        YAMNet frames whatever it is given, so its window is exactly clip_samples.
        """
        return self.clip_samples - 1 if self.kind == "official_logmel" else self.clip_samples

    @property
    def window_hop_samples(self) -> int:
        """Samples between the starts of consecutive model windows."""
        return self.window_hop_frames * self.hop_length

    @property
    def model_input_shape(self) -> tuple[int, ...]:
        """One model input without the batch axis: (1, frames, n_mels), or (samples,) for raw-waveform models."""
        return (self.clip_samples,) if self.kind in WAVEFORM_KINDS else (1, self.frames, self.n_mels)

    def num_frames(self, num_samples: int) -> int:
        """STFT frames this config yields for a waveform of num_samples samples."""
        if self.center:
            return 1 + num_samples // self.hop_length
        if num_samples < self.win_length:
            return 0
        return 1 + (num_samples - self.win_length) // self.hop_length

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of JSON types (str, int, float, bool), one key per field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> FrontendConfig:
        """Rebuild a config from `to_dict()` output (e.g. parsed JSON); ValueError says what is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"a frontend config must be a JSON object, got {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ValueError(f"unknown frontend config field(s) {unknown}; known fields: {sorted(fields)}")
        required = [n for n, f in fields.items() if f.default is dataclasses.MISSING]
        missing = [n for n in required if n not in data]
        if missing:
            raise ValueError(f"frontend config is missing field(s) {missing}")
        values: dict[str, Any] = {}
        problems = []
        for name, value in data.items():
            try:
                values[name] = _coerce(name, fields[name].type, value)
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise ValueError("invalid FrontendConfig: " + "; ".join(problems))
        return cls(**values)


def _coerce(name: str, type_name: str, value: Any) -> Any:
    """Check one JSON value against its field's type; ints are accepted where floats are expected."""
    if type_name == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
        return value
    if type_name == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        return value
    if type_name == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} must be a number, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {value!r}")
    return value


def _problems(c: FrontendConfig) -> list[str]:
    """Every inconsistency in a config, each as a short phrase (empty when the config is sound)."""
    out: list[str] = []

    def positive_int(name: str) -> bool:
        value = getattr(c, name)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            out.append(f"{name} must be a positive integer, got {value!r}")
            return False
        return True

    def finite_number(name: str) -> bool:
        value = getattr(c, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            out.append(f"{name} must be a finite number, got {value!r}")
            return False
        return True

    def one_of(name: str, allowed: tuple[str, ...]) -> None:
        if getattr(c, name) not in allowed:
            out.append(f"{name} must be one of {list(allowed)}, got {getattr(c, name)!r}")

    one_of("kind", KINDS)
    one_of("mel_scale", MEL_SCALES)
    one_of("pad_mode", PAD_MODES)
    one_of("clip_pad", CLIP_PADS)
    if not isinstance(c.center, bool):
        out.append(f"center must be true or false, got {c.center!r}")
    ints_ok = all([positive_int(n) for n in ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels",
                                             "frames", "window_hop_frames", "ensemble_views")])
    floats_ok = all([finite_number(n) for n in ("fmin", "fmax", "log_offset", "clip_seconds")])
    if ints_ok and c.win_length > c.n_fft:
        out.append(f"win_length ({c.win_length}) must not exceed n_fft ({c.n_fft})")
    if ints_ok and c.window_hop_frames > c.frames:
        out.append(f"window_hop_frames ({c.window_hop_frames}) must not exceed frames ({c.frames}), "
                   "or audio between windows would be skipped")
    if floats_ok:
        if c.log_offset <= 0:
            out.append(f"log_offset must be > 0 so silence stays finite, got {c.log_offset}")
        if c.clip_seconds <= 0:
            out.append(f"clip_seconds must be > 0, got {c.clip_seconds}")
        if c.fmin < 0 or c.fmin >= c.fmax:
            out.append(f"need 0 <= fmin < fmax, got fmin={c.fmin}, fmax={c.fmax}")
        if ints_ok and c.fmax > c.sample_rate / 2:
            out.append(f"fmax ({c.fmax}) must not exceed the Nyquist frequency ({c.sample_rate / 2})")
    if (c.kind in ("yamnet", *WAVEFORM_KINDS)) != (c.clip_pad == "yamnet_zeros"):
        out.append(f"clip_pad 'yamnet_zeros' goes with the YAMNet kinds and 'waveform', and only with them (kind={c.kind!r}, "
                   f"clip_pad={c.clip_pad!r})")
    if not out:
        # The model's input shape is fixed: the clip must give exactly `frames` STFT frames.
        got = c.num_frames(c.window_samples)
        if got != c.frames:
            out.append(f"clip_seconds={c.clip_seconds} gives {c.window_samples} samples and {got} STFT frames "
                       f"at hop {c.hop_length}, but frames={c.frames}")
    return out
