"""Telling a clip that holds sound from one that does not."""

from __future__ import annotations

import math
import os

import numpy as np

from .errors import AudioFormatError

DEFAULT_SILENCE_THRESHOLD = 1.0 / 32768  # one 16-bit step


def silence_problem(samples: np.ndarray, threshold: float = DEFAULT_SILENCE_THRESHOLD) -> str | None:
    """Why `samples` hold no sound (empty, all zero, or peak below `threshold`), or None when they do.

    The default threshold is one 16-bit step (1/32768, about -90 dBFS): below it a file holds no sound.
    """
    x = np.asarray(samples)
    return silence_of_peak(float(np.max(np.abs(x))) if x.size else None, threshold)


def silence_of_peak(peak: float | None, threshold: float = DEFAULT_SILENCE_THRESHOLD) -> str | None:
    """silence_problem() from the largest sample magnitude alone (None: no samples), for audio read as a stream."""
    if peak is None:
        return "empty: no samples"
    if peak == 0.0:
        return "silent: every sample is exactly zero"
    if peak < threshold:
        return f"silent: the peak level {peak:.3g} ({20 * math.log10(peak):.1f} dBFS) is below the threshold {threshold:.3g}"
    return None


def check_not_silent(samples: np.ndarray, path: str | os.PathLike,
                     threshold: float = DEFAULT_SILENCE_THRESHOLD) -> None:
    """Raise AudioFormatError naming `path` when `samples` hold no sound (see silence_problem)."""
    problem = silence_problem(samples, threshold)
    if problem:
        raise AudioFormatError(path, problem)
