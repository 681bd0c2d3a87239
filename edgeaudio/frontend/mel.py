"""Mel filterbanks, as librosa (HTK, unnormalised) and TensorFlow build them. numpy only.

The two differ in where the triangles are straight: librosa.filters.mel places the band edges evenly on the
mel scale but draws each triangle linearly in Hz; tf.signal.linear_to_mel_weight_matrix draws them linearly in
mel and always gives the DC bin zero weight.
"""

from __future__ import annotations

import numpy as np

from .config import FrontendConfig


def hz_to_mel_htk(hz: np.ndarray | float) -> np.ndarray:
    """HTK mel, as librosa writes it: 2595 log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz_htk(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of hz_to_mel_htk."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def hz_to_mel_tf(hz: np.ndarray | float) -> np.ndarray:
    """HTK mel, as TensorFlow writes it: 1127 ln(1 + f / 700)."""
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


def htk_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=True, norm=None), transposed: (n_bins, n_mels)."""
    bin_hz = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges_hz = mel_to_hz_htk(np.linspace(hz_to_mel_htk(fmin), hz_to_mel_htk(fmax), n_mels + 2))
    widths = np.diff(edges_hz)
    # Each triangle rises from edge i to edge i + 1 and falls to edge i + 2, straight in Hz.
    rising = (bin_hz[None, :] - edges_hz[:-2, None]) / widths[:-1, None]
    falling = (edges_hz[2:, None] - bin_hz[None, :]) / widths[1:, None]
    return np.maximum(0.0, np.minimum(rising, falling)).T


def tf_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """tf.signal.linear_to_mel_weight_matrix(n_mels, n_fft // 2 + 1, sample_rate, fmin, fmax): (n_bins, n_mels)."""
    n_bins = n_fft // 2 + 1
    bin_mel = hz_to_mel_tf(np.linspace(0.0, sample_rate / 2.0, n_bins))[1:, None]  # DC excluded, as HTK does
    edges = np.linspace(hz_to_mel_tf(fmin), hz_to_mel_tf(fmax), n_mels + 2)
    lower, centre, upper = edges[None, :-2], edges[None, 1:-1], edges[None, 2:]
    rising = (bin_mel - lower) / (centre - lower)
    falling = (upper - bin_mel) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return np.vstack([np.zeros((1, n_mels)), weights])


def mel_filterbank(config: FrontendConfig) -> np.ndarray:
    """The config's mel weights, float64 (n_fft // 2 + 1, n_mels): spectrum (T, bins) @ weights -> (T, mels)."""
    build = htk_filterbank if config.mel_scale == "htk" else tf_filterbank
    return build(config.sample_rate, config.n_fft, config.n_mels, config.fmin, config.fmax)
