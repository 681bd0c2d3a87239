"""Inputs shaped and scaled like real log-mel spectrograms, for checks that need no audio. numpy only.

log(mel + 1e-6) of natural sound spans roughly -14 (silence) to +5: a smooth spectral envelope that falls with
frequency, harmonic ridges that move in time, onsets, noise, and silent stretches. Random normal inputs look
nothing like this and hide range-dependent errors (int8 calibration, fold rounding).
"""

from __future__ import annotations

import numpy as np


def synthetic_logmel(n: int, frames: int, mels: int, seed: int = 0, log_offset: float = 1e-6) -> np.ndarray:
    """(n, 1, frames, mels) float32 log-mel-like spectrograms, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None] / max(frames - 1, 1)
    f = np.arange(mels)[None, :] / max(mels - 1, 1)
    out = np.empty((n, 1, frames, mels), dtype=np.float32)
    for i in range(n):
        tilt = rng.uniform(1.0, 4.0)
        envelope = np.exp(-tilt * f)  # energy falls with frequency
        pitch = rng.uniform(0.05, 0.25) * (1 + rng.uniform(-0.5, 0.5) * t)  # a gliding fundamental
        ridges = sum(np.exp(-(((f - h * pitch) * mels / 2.0) ** 2)) / h for h in range(1, 6))
        onsets = np.zeros((frames, 1))
        for start in rng.integers(0, frames, size=rng.integers(1, 5)):
            onsets[start:] += np.exp(-(np.arange(frames - start)[:, None]) / rng.uniform(5, 60))
        loudness = 10 ** rng.uniform(-3, 1)
        power = loudness * envelope * (0.05 + ridges * (0.3 + onsets)) * rng.gamma(1.0, 1.0, (frames, mels))
        silent = rng.random() < 0.5
        if silent:  # a silent stretch drives values to log(1e-6)
            a = rng.integers(0, frames // 2)
            power[a : a + rng.integers(1, frames // 3 + 1)] = 0.0
        out[i, 0] = np.log(power + log_offset)
    return out
