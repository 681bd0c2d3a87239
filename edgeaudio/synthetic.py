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


def synthetic_waveform(n: int, samples: int, sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """(n, samples) float32 waveforms in [-1, 1] shaped like real recordings, deterministic for a seed.

    Each holds a few tonal or noisy events at levels from -45 to -3 dBFS over a faint noise floor, and
    sometimes a stretch of digital silence: the range a raw-waveform model's int8 calibration must see.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / sample_rate
    out = np.empty((n, samples), dtype=np.float32)
    for i in range(n):
        x = rng.standard_normal(samples) * 10 ** (rng.uniform(-80, -50) / 20)
        for _ in range(rng.integers(1, 4)):
            start = rng.integers(0, samples // 2)
            length = rng.integers(samples // 8, samples - start + 1)
            span = slice(start, start + length)
            if rng.random() < 0.5:
                f0 = rng.uniform(100, 2000)
                event = sum(np.sin(2 * np.pi * f0 * h * t[span] + rng.uniform(0, 6.3)) / h for h in range(1, 5))
            else:
                event = np.convolve(rng.standard_normal(length), np.ones(rng.integers(1, 8)), mode="same")
            ramp = np.minimum(1.0, np.minimum(np.arange(length), np.arange(length)[::-1]) / (0.01 * sample_rate + 1))
            event = event * ramp / (np.max(np.abs(event)) + 1e-12)
            x[span] += event * 10 ** (rng.uniform(-45, -3) / 20)
        if rng.random() < 0.25:  # digital silence, as between clips
            a = rng.integers(0, samples // 2)
            x[a : a + rng.integers(1, samples // 4)] = 0.0
        out[i] = np.clip(x, -1.0, 1.0)
    return out


def synthetic_inputs(n: int, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """(n, *shape) float32 model inputs: log-mel spectrograms for (C, T, F), 16 kHz waveforms for (samples,)."""
    if len(shape) == 1:
        return synthetic_waveform(n, shape[0], seed=seed)
    channels, frames, mels = shape
    data = synthetic_logmel(n, frames, mels, seed=seed)
    return np.repeat(data, channels, axis=1) if channels != 1 else data
