"""Cutting a clip into model windows (N, 1, T, F), the way each model's official pipeline does.

Official AudioRepInceptionNeXt / auditory-slow-fast loaders (slowfast/datasets/audio_loader_*.py):
- a window is computed from `samples[start : start + clip_size - 1]`, clip_size = round(sr * CLIP_SECS), with
  its own centred STFT, so its first and last frames see zero padding;
- a clip with fewer than clip_size samples gives one window: the features of the whole clip with the last frame
  repeated up to `frames` (np.pad 'edge' in time); the UrbanSound8K loader instead repeats the last sample up to
  clip_size - 1 samples before the STFT (librosa.util.fix_length, mode 'edge');
- at test time, TEST.NUM_ENSEMBLE_VIEWS windows start at np.linspace(0, n - clip_size, views), truncated to int.

edgeaudio's rule for a long clip (views=None): consecutive, non-overlapping windows start every
`frames * hop_length` samples (so each window's frames sit on the clip's frame grid), and when audio is left
after the last of them one more window is aligned to the end of the clip (start n - clip_size, the official
last view), overlapping its neighbour. No window of a long clip is padded.

YAMNet (features.pad_waveform + tf.signal.frame): the waveform is zero-padded at the end to 15600 samples plus
a whole number of 7680-sample patch hops, then 96-frame patches are taken every 48 frames.
"""

from __future__ import annotations

import math

import numpy as np

from .config import WAVEFORM_KINDS, FrontendConfig
from .logmel import as_waveform, logmel


def window_starts(num_samples: int, config: FrontendConfig, views: int | None = None) -> list[int]:
    """First samples of the model windows of an official-kind clip of num_samples samples (see module doc)."""
    delta = max(num_samples - config.clip_samples, 0)
    if views is not None:
        return [int(s) for s in np.linspace(0, delta, num=views)]
    starts = list(range(0, delta + 1, config.window_hop_samples))
    if starts[-1] != delta:
        starts.append(delta)
    return starts


def pad_like_yamnet(waveform: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """Zero-pad at the end to clip_samples + k * window_hop_samples samples, the fewest that hold the clip."""
    x = as_waveform(waveform)
    target = config.clip_samples
    if x.size > target:
        target += math.ceil((x.size - target) / config.window_hop_samples) * config.window_hop_samples
    return np.pad(x, (0, target - x.size))


def windows(features: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """Cut a (T, n_mels) feature matrix into model windows: float32 (N, 1, frames, n_mels).

    For features already computed over a whole clip (streaming, or a cached spectrogram). Official kind:
    fewer than `frames` frames are edge-padded in time to one window; otherwise windows start every
    window_hop_frames frames, plus one aligned to the end when frames are left over. YAMNet: the end is padded
    with log(log_offset) (the value of silence) up to a whole number of patch hops, then patches are framed.
    Official windows cut from one long spectrogram differ from clip_to_model_inputs() only in the frames
    next to a cut (those see real audio here, zero padding there).
    """
    f = np.asarray(features, dtype=np.float32)
    if f.ndim != 2 or f.shape[1] != config.n_mels:
        raise ValueError(f"features must have shape (T, {config.n_mels}), got {f.shape}")
    if f.shape[0] == 0:
        raise ValueError("features have no frames: the waveform was shorter than one STFT window")
    size, hop = config.frames, config.window_hop_frames
    total = f.shape[0]
    if config.kind == "yamnet":
        target = size + max(0, math.ceil((total - size) / hop)) * hop
        f = np.pad(f, ((0, target - total), (0, 0)), constant_values=np.float32(math.log(config.log_offset)))
        starts = list(range(0, target - size + 1, hop))
    elif total <= size:
        f = np.pad(f, ((0, size - total), (0, 0)), mode="edge")
        starts = [0]
    else:
        starts = list(range(0, total - size + 1, hop))
        if starts[-1] != total - size:
            starts.append(total - size)
    return np.stack([f[s:s + size] for s in starts])[:, None]


def clip_to_model_inputs(waveform: np.ndarray, config: FrontendConfig, *, views: int | None = None) -> np.ndarray:
    """Features of a mono clip at config.sample_rate, cut into model inputs: float32 (N, 1, frames, n_mels);
    for the waveform kinds ("yamnet_waveform", "waveform"), raw windows (N, clip_samples), zero-padded at the end as YAMNet pads.

    Each official window is computed from its own waveform slice, exactly as the official loaders do. views=k
    (official kind only) gives the k evenly spaced test-time views instead of consecutive windows.
    """
    x = as_waveform(waveform)
    if x.size == 0:
        raise ValueError("waveform is empty: no samples to compute features from")
    if config.kind in WAVEFORM_KINDS:  # the model computes its features itself: raw windows (N, samples)
        if views is not None:
            raise ValueError("views apply to official_logmel configs")
        padded = pad_like_yamnet(x, config).astype(np.float32)
        starts = range(0, padded.size - config.clip_samples + 1, config.window_hop_samples)
        return np.stack([padded[s : s + config.clip_samples] for s in starts])
    if config.kind == "yamnet":
        if views is not None:
            raise ValueError("views apply to official_logmel configs; YAMNet patches every window_hop_frames")
        return windows(logmel(pad_like_yamnet(x, config), config), config)
    if views is not None and (isinstance(views, bool) or not isinstance(views, int) or views <= 0):
        raise ValueError(f"views must be a positive integer, got {views!r}")
    length = config.window_samples
    if x.size < config.clip_samples:
        if config.clip_pad == "edge_samples":
            x = np.pad(x, (0, length - x.size), mode="edge")
        feats = logmel(x, config)[:config.frames]
        one = np.pad(feats, ((0, config.frames - feats.shape[0]), (0, 0)), mode="edge")
        return np.repeat(one[None, None], views or 1, axis=0)
    return np.stack([logmel(x[s:s + length], config) for s in window_starts(x.size, config, views)])[:, None]
