"""Log-mel features in numpy: STFT magnitude -> mel filterbank -> log(mel + offset).

Matches librosa.stft + librosa.filters.mel (the official AudioRepInceptionNeXt features) and tf.signal.stft +
linear_to_mel_weight_matrix (YAMNet) to within 1e-4 on the log values; tests/test_frontend.py measures it.
The input is taken to float64, so the features do not depend on the input's dtype; the result is float32.

Where the precision goes (measured in benchmarks/frontend_speed.py, which also times this against the model):
- the FFT stays float64. A float32 FFT's rounding is relative to the whole frame, so the quiet bins of a
  tonal frame (a sine's far Hann sidelobes, ~1e-7 of its peak, still far above the 1e-6 log offset) come out
  up to 0.26 off in log-mel on a chirp, and numpy's float32 rfft is barely faster anyway;
- everything after the FFT is float32. Each spectrum value is rounded relative to itself (not to the frame),
  and the mel sums add non-negative terms, so the error stays relative to each mel value: ~1e-6 in log.
The mel projection multiplies only the filterbank's non-zero band (blocks of adjacent filters), and long
waveforms go through in chunks of frames, in work arrays kept per thread, so the complex spectrum stays small and
no call pays for fresh pages.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import numpy as np

from .config import FrontendConfig
from .mel import mel_filterbank

MEL_BLOCK = 16  # mel filters per matmul block: ~8x fewer multiplies than the dense (bins, 128) product
CHUNK_FRAMES = 128  # frames per FFT call: a 2 MB complex128 spectrum at n_fft 2048, whatever the clip's length


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


@dataclass(frozen=True)
class _Plan:
    """What logmel() precomputes per config: the float64 window, the band of bins any filter weighs
    ([first, stop)), the filterbank cut into blocks of adjacent filters, each (bin start, bin stop, float32
    weights) relative to `first`, and the largest sample magnitude float32 holds the spectrum and mel sums for."""

    window: np.ndarray
    first: int
    stop: int
    blocks: tuple[tuple[int, int, np.ndarray], ...]
    float32_peak: float


@functools.lru_cache(maxsize=16)
def _plan(config: FrontendConfig) -> _Plan:
    window, weights = _window_and_filterbank(config)
    used = np.flatnonzero(weights.any(axis=1))
    first, stop = (int(used[0]), int(used[-1]) + 1) if used.size else (0, 0)
    band = weights[first:stop]
    blocks = []
    for j in range(0, config.n_mels, MEL_BLOCK):
        rows = np.flatnonzero(band[:, j:j + MEL_BLOCK].any(axis=1))
        a, b = (int(rows[0]), int(rows[-1]) + 1) if rows.size else (0, 0)
        block = np.ascontiguousarray(band[a:b, j:j + MEL_BLOCK], dtype=np.float32)
        block.setflags(write=False)
        blocks.append((a, b, block))
    # |X[k]| <= peak * sum(window) and mel <= |X|max * (largest filter sum); keep 16x headroom below float32 max.
    largest = float(window.sum()) * max(float(weights.sum(axis=0).max()), 1.0)
    return _Plan(window, first, stop, tuple(blocks), float(np.finfo(np.float32).max) / 16.0 / largest)


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


def _frames(x: np.ndarray, config: FrontendConfig, count: int) -> np.ndarray:
    """The win_length non-zero samples of each of the `count` STFT frames of float64 `x`: a (count, win) view."""
    if config.center:
        half = config.n_fft // 2
        x = np.pad(x, (half, half), mode=config.pad_mode)
        # librosa puts the window in the middle of the n_fft frame; only those win_length samples are non-zero,
        # so frame just them. Zero-padding them at the end instead of both sides is a circular shift of the
        # frame, which leaves the magnitude unchanged.
        x = x[(config.n_fft - config.win_length) // 2:]
    return np.lib.stride_tricks.sliding_window_view(x, config.win_length)[::config.hop_length][:count]


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
    return np.abs(np.fft.rfft(_frames(x, config, count) * window, n=config.n_fft, axis=-1))


def logmel(waveform: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """Log-mel spectrogram of a mono waveform sampled at config.sample_rate: float32 (T frames, n_mels)."""
    x = as_waveform(waveform)
    count = config.num_frames(x.size)
    if count <= 0:
        return np.zeros((0, config.n_mels), dtype=np.float32)
    return logmel_of_frames(_frames(x, config, count), config, float(max(x.max(), -x.min())))


def logmel_of_frames(frames: np.ndarray, config: FrontendConfig, peak: float) -> np.ndarray:
    """Log-mels of STFT frames already cut: `frames` (count, win_length) float64, each frame's win_length
    samples before the window is applied, `peak` the largest sample magnitude among them. float32 (count,
    n_mels). The streaming front end cuts its frames from a ring buffer and calls this, so a frame costs the
    same wherever it comes from."""
    plan = _plan(config)
    count = len(frames)
    if peak > plan.float32_peak:  # |x| beyond ~6e33: mel sums overflow float32, so float64
        window, weights = _window_and_filterbank(config)
        spectrum = np.abs(np.fft.rfft(frames * window, n=config.n_fft, axis=-1))
        return np.log(spectrum @ weights + config.log_offset).astype(np.float32)
    windowed, spectrum, narrow, magnitude = _buffers(config, plan)
    mel = np.empty((count, config.n_mels), dtype=np.float32)
    for start in range(0, count, CHUNK_FRAMES):
        n = min(CHUNK_FRAMES, count - start)
        np.multiply(frames[start:start + n], plan.window, out=windowed[:n])
        np.fft.rfft(windowed[:n], n=config.n_fft, out=spectrum[:n])  # float64 FFT
        # Rounding re and im to float32 moves |X| by at most 2^-24 of itself; abs is then float32 (half the work).
        narrow[:n] = spectrum[:n, plan.first:plan.stop]
        np.abs(narrow[:n], out=magnitude[:n])
        column = 0
        for a, b, weights in plan.blocks:
            np.matmul(magnitude[:n, a:b], weights, out=mel[start:start + n, column:column + weights.shape[1]])
            column += weights.shape[1]
    mel += np.float32(config.log_offset)
    return np.log(mel, out=mel)


_local = threading.local()


def _buffers(config: FrontendConfig, plan: _Plan) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Work arrays for one chunk of frames, kept per thread and config: fresh multi-megabyte temporaries would
    each be mapped anew by malloc and page-faulted in on first touch, which doubled the front end's time
    (8.1 ms against 4.2 ms for a VGG-Sound window, measured alone in a process)."""
    cache = getattr(_local, "buffers", None)
    if cache is None:
        cache = _local.buffers = {}
    found = cache.get(config)
    if found is None:
        width = plan.stop - plan.first
        found = cache[config] = (np.empty((CHUNK_FRAMES, config.win_length)),
                                 np.empty((CHUNK_FRAMES, config.n_fft // 2 + 1), dtype=np.complex128),
                                 np.empty((CHUNK_FRAMES, width), dtype=np.complex64),
                                 np.empty((CHUNK_FRAMES, width), dtype=np.float32))
    return found
