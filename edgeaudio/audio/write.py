"""Writing audio files through libsndfile, atomically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def write_audio(path: str | os.PathLike, samples: np.ndarray, sample_rate: int, subtype: str | None = None) -> Path:
    """Write mono or (frames, channels) float samples in [-1, 1] to `path`, in the format its suffix names
    (.wav, .flac, .ogg, .mp3, ...); `subtype` as soundfile names it (PCM_16, PCM_24, FLOAT, VORBIS, ...),
    libsndfile's default for the format when None (16-bit PCM for WAV and FLAC)."""
    import soundfile

    from edgeaudio.atomic import atomic_path

    data = np.asarray(samples)
    suffix = Path(path).suffix.lower().lstrip(".")
    kind = {"wave": "WAV", "oga": "OGG", "opus": "OGG", "mp3": "MP3", "aif": "AIFF", "aifc": "AIFF"}.get(suffix, suffix.upper())
    if suffix == "opus" and subtype is None:
        subtype = "OPUS"
    with atomic_path(path) as tmp:
        soundfile.write(str(tmp), data, int(sample_rate), subtype=subtype, format=kind)
    return Path(path)


def write_wav(path: str | os.PathLike, samples: np.ndarray, sample_rate: int) -> Path:
    """Mono or (frames, channels) samples in [-1, 1] as 16-bit PCM WAV, atomically."""
    return write_audio(path, samples, sample_rate, subtype="PCM_16")
