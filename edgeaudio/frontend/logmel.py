"""Log-mel features in numpy: STFT magnitude -> mel filterbank -> log(mel + offset).

Matches librosa.stft + librosa.filters.mel (the official AudioRepInceptionNeXt features) and tf.signal.stft +
linear_to_mel_weight_matrix (YAMNet) to within 1e-4 on the log values; tests/test_frontend.py measures it.
Work is done in float64 and the result is float32, so the features do not depend on the input's dtype.
"""

from __future__ import annotations

import functools

import numpy as np

from .config import FrontendConfig
from .mel import mel_filterbank


def hann_periodic(length: int) -> np.ndarray:
    """Periodic Hann window 0.5 - 0.5 cos(2 pi n / length), as get_window('hann', fftbins=True) and TF build it."""
    n = np.arange(length, dtype=np.float64)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / length)


@functools.lru_cache(maxsize=16)
def _window_and_filterbank(config: FrontendConfig) -> tuple[np.ndarray, np.ndarray]:
    window = hann_periodic(config.win_length)
    weights = mel_filterbank(config)
    window.setflags(write=False)
    weights.setflags(write=False)
    return window, weights


def as_waveform(waveform: np.ndarray) -> np.ndarray:
    """A 1-D float64 copy (or view) of `waveform`; ValueError if it is not 1-D or not finite."""
    x = np.asarray(waveform)
    if x.ndim != 1:
        raise ValueError(f"waveform must be 1-D (mono samples), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating) and not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"waveform must hold numbers, got dtype {x.dtype}")
    x = x.astype(np.float64, copy=False)
    if not np.all(np.isfinite(x)):
        raise ValueError("waveform contains NaN or infinite samples")
    return x


def stft_magnitude(waveform: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """|STFT| of a mono waveform at config.sample_rate: float64 (frames, n_fft // 2 + 1).

    With center=True, frame t is centred on sample t * hop (n_fft // 2 of padding each end), as librosa.stft;
    otherwise frame t starts at sample t * hop and only whole frames are kept, as tf.signal.stft(pad_end=False).
    """
    x = as_waveform(waveform)
    window, _ = _window_and_filterbank(config)
    count = config.num_frames(x.size)
    if count <= 0:
        return np.zeros((0, config.n_bins))
    if config.center:
        half = config.n_fft // 2
        x = np.pad(x, (half, half), mode=config.pad_mode)
        # librosa puts the window in the middle of the n_fft frame; only those win_length samples are non-zero,
        # so frame just them. Zero-padding them at the end instead of both sides is a circular shift of the
        # frame, which leaves the magnitude unchanged.
        x = x[(config.n_fft - config.win_length) // 2:]
    frames = np.lib.stride_tricks.sliding_window_view(x, config.win_length)[::config.hop_length][:count]
    return np.abs(np.fft.rfft(frames * window, n=config.n_fft, axis=-1))


def logmel(waveform: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """Log-mel spectrogram of a mono waveform sampled at config.sample_rate: float32 (T frames, n_mels)."""
    _, weights = _window_and_filterbank(config)
    mel = stft_magnitude(waveform, config) @ weights
    return np.log(mel + config.log_offset).astype(np.float32)
