"""A small labelled set of synthetic sound events, deterministic for a seed. numpy only.

Eight classes a log-mel CNN can tell apart only by learning time and frequency structure: a steady tone,
rising and falling chirps, a band-limited noise burst, a click train, a harmonic buzz, a tremolo tone and a
two-tone siren. Each clip varies pitch, onset, duration, loudness (-30 to -3 dBFS) and background noise
(SNR 5 to 30 dB), so a model trained on them has realistic, peaked output statistics.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

CLASSES = ("tone", "chirp_up", "chirp_down", "noise_burst", "clicks", "harmonic", "tremolo", "siren")


def _envelope(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """An event that starts somewhere in the first half and lasts 30-90% of the clip, with soft edges."""
    length = int(n * rng.uniform(0.3, 0.9))
    start = int(rng.uniform(0, n - length))
    env = np.zeros(n)
    ramp = max(1, int(0.01 * sr))
    body = np.ones(length)
    body[:ramp] = np.linspace(0, 1, ramp)
    body[-ramp:] = np.linspace(1, 0, ramp)
    env[start : start + length] = body
    return env


def _sweep(f0: float, f1: float, t: np.ndarray) -> np.ndarray:
    """Phase of a sine sweeping log-linearly from f0 to f1 over t."""
    duration = t[-1] if t[-1] > 0 else 1.0
    k = np.log(f1 / f0) / duration
    return 2 * np.pi * f0 * (np.expm1(k * t) / k)


def render_event(label: int, sr: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """One clip of class `label` (an index into CLASSES), float32 in [-1, 1]."""
    n = int(round(sr * seconds))
    t = np.arange(n) / sr
    nyquist = sr / 2
    f = rng.uniform(250, min(2500, nyquist / 4))
    name = CLASSES[label]
    if name == "tone":
        x = np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    elif name == "chirp_up":
        x = np.sin(_sweep(f, min(f * rng.uniform(2.5, 4), nyquist * 0.8), t))
    elif name == "chirp_down":
        x = np.sin(_sweep(min(f * rng.uniform(2.5, 4), nyquist * 0.8), f, t))
    elif name == "noise_burst":
        spectrum = np.fft.rfft(rng.standard_normal(n))
        freqs = np.fft.rfftfreq(n, 1 / sr)
        lo = rng.uniform(300, nyquist * 0.4)
        spectrum[(freqs < lo) | (freqs > lo * rng.uniform(1.5, 2.5))] = 0
        x = np.fft.irfft(spectrum, n)
    elif name == "clicks":
        x = np.zeros(n)
        period = int(sr / rng.uniform(4, 20))
        x[:: max(period, 1)] = 1.0
        x = np.convolve(x, np.exp(-np.arange(int(0.004 * sr)) / (0.0008 * sr)), mode="same")
    elif name == "harmonic":
        f = rng.uniform(90, 250)
        x = sum(np.sin(2 * np.pi * f * h * t) / h for h in range(1, 9) if f * h < nyquist)
    elif name == "tremolo":
        x = np.sin(2 * np.pi * f * t) * (0.55 + 0.45 * np.sin(2 * np.pi * rng.uniform(4, 12) * t))
    else:  # siren: alternating between two pitches
        rate = rng.uniform(1.5, 4)
        high = np.sin(2 * np.pi * rate * t) > 0
        x = np.sin(np.cumsum(2 * np.pi * np.where(high, f * 1.5, f) / sr))
    x = x * _envelope(n, sr, rng)
    x = x / (np.max(np.abs(x)) + 1e-12) * 10 ** (rng.uniform(-30, -3) / 20)
    noise = rng.standard_normal(n)
    signal_rms = np.sqrt(np.mean(x**2)) + 1e-12
    x = x + noise / np.sqrt(np.mean(noise**2)) * signal_rms / 10 ** (rng.uniform(5, 30) / 20)
    return np.clip(x, -1, 1).astype(np.float32)


def make_events(per_class: int, sr: int, seconds: float, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """`per_class` clips of each class, interleaved by class: (waveforms, labels)."""
    rng = np.random.default_rng(seed)
    waves, labels = [], []
    for _ in range(per_class):
        for label in range(len(CLASSES)):
            waves.append(render_event(label, sr, seconds, rng))
            labels.append(label)
    return waves, np.asarray(labels, dtype=np.int64)


def write_events(folder: str | os.PathLike, per_class: int, sr: int, seconds: float, seed: int = 0, by_class: bool = False) -> list[Path]:
    """Write make_events' clips as 16-bit WAV files named CLASS_NNN.wav into `folder` (into `folder`/CLASS/ when
    `by_class`: the folder-per-class layout eval reads); return their paths."""
    from edgeaudio.audio import write_wav

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    waves, labels = make_events(per_class, sr, seconds, seed)
    paths = []
    for i, (wave, label) in enumerate(zip(waves, labels)):
        path = (folder / CLASSES[label] if by_class else folder) / f"{CLASSES[label]}_{i:04d}.wav"
        path.parent.mkdir(exist_ok=True)
        write_wav(path, wave, sr)
        paths.append(path)
    return paths


def make_mixtures(count: int, sr: int, seconds: float, seed: int = 0, max_events: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """`count` multi-label clips: each mixes 1..max_events events of distinct classes, each event shorter than
    the clip and placed at a random offset. Returns (waveforms (count, samples) float32, targets (count,
    classes) multi-hot float32)."""
    rng = np.random.default_rng(seed)
    n = int(round(sr * seconds))
    waves = np.zeros((count, n), dtype=np.float32)
    targets = np.zeros((count, len(CLASSES)), dtype=np.float32)
    for i in range(count):
        for label in rng.choice(len(CLASSES), size=rng.integers(1, max_events + 1), replace=False):
            length = int(n * rng.uniform(0.35, 0.8))
            start = rng.integers(0, n - length + 1)
            waves[i, start : start + length] += render_event(int(label), sr, length / sr, rng)[:length]
            targets[i, label] = 1.0
        waves[i] = np.clip(waves[i], -1, 1)
    return waves, targets
