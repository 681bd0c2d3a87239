"""YAMNet's log-mel front end written as graph operations, so an exported model can start from raw waveform.

YAMNet's own TFLite export replaces the STFT with framing and two DFT matmuls (400 x 257 each). Kept float
(raw waveform and linear spectra span more range than int8 holds), those matrices alone would cost 0.75 MB of
the LEAN-style model's 4.5 MB. Here the DFT is factored by the shift theorem instead: a 25 ms frame is three
10 ms blocks of the waveform (the hop), and the DFT of a block that starts 160*j samples into the frame is the
DFT of that block on its own, rotated by exp(-2 pi i k 160 j / 512). So the waveform is reshaped into 10 ms
blocks, each block is windowed by its part of the Hann window, one (160 x bins) matmul transforms all of them,
and per-bin rotations and a sum assemble each frame's spectrum: 4x fewer weights, the same numbers. Then
magnitude, the TensorFlow mel matrix as a matmul, and log(mel + 0.001): every step a builtin TFLite op. Only
the bins the mel matrix uses are computed (5..239 of 257: 125-7500 Hz). The tables come from
edgeaudio.frontend, so this module and the numpy front end compute the same features.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgeaudio.frontend import PRESETS
from edgeaudio.frontend.logmel import hann_periodic
from edgeaudio.frontend.mel import mel_filterbank


def block_dft(hop: int, n_fft: int, bins: np.ndarray) -> np.ndarray:
    """(hop, 2 * len(bins)): DFT of one `hop`-sample block at `bins` (of an n_fft DFT), cos then -sin columns."""
    n = np.arange(hop, dtype=np.float64)[:, None]
    angle = 2.0 * np.pi * n * np.asarray(bins, dtype=np.float64)[None, :] / n_fft
    return np.concatenate([np.cos(angle), -np.sin(angle)], axis=1)


def block_rotations(blocks: int, hop: int, n_fft: int, bins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cos, sin), each (blocks, len(bins)): the phase exp(-i phi) of a block starting hop*j samples into the frame."""
    phi = 2.0 * np.pi * hop * np.arange(blocks)[:, None] * np.asarray(bins, dtype=np.float64)[None, :] / n_fft
    return np.cos(phi), np.sin(phi)


class LogMel(nn.Module):
    """(N, samples) waveform -> (N, frames, mels) log-mel, YAMNet's recipe (PRESETS["yamnet"])."""

    def __init__(self):
        super().__init__()
        config = PRESETS["yamnet"]
        weights = mel_filterbank(config)
        used = np.nonzero(weights.any(axis=1))[0]
        used = np.arange(used.min(), used.max() + 1)
        self.hop, self.win, self.bins, self.offset = config.hop_length, config.win_length, len(used), config.log_offset
        self.blocks = math.ceil(config.win_length / config.hop_length)
        window = np.zeros(self.blocks * self.hop)
        window[: config.win_length] = hann_periodic(config.win_length)
        cos, sin = block_rotations(self.blocks, self.hop, config.n_fft, used)
        # Constants of the recipe, not learned: kept out of the state dict.
        for name, value in (("window", window.reshape(self.blocks, self.hop)), ("dft", block_dft(self.hop, config.n_fft, used)),
                            ("cos", cos), ("sin", sin), ("mel", weights[used])):
            self.register_buffer(name, torch.tensor(value, dtype=torch.float32), persistent=False)

    def spectrum(self, wave: Tensor) -> tuple[Tensor, Tensor]:
        """(real, imaginary), each (N, frames, bins): the STFT of `wave` at the used bins."""
        frames = 1 + (wave.shape[1] - self.win) // self.hop
        needed = (frames + self.blocks - 1) * self.hop
        wave = F.pad(wave, (0, needed - wave.shape[1])) if needed > wave.shape[1] else wave[:, :needed]
        blocks = wave.reshape(wave.shape[0], frames + self.blocks - 1, self.hop)
        windowed = torch.cat([blocks[:, j : j + frames] * self.window[j] for j in range(self.blocks)], dim=1)
        parts = torch.matmul(windowed, self.dft)  # (N, blocks * frames, 2 * bins): every block's own DFT
        real = imag = None
        for j in range(self.blocks):
            a, b = parts[:, j * frames : (j + 1) * frames, : self.bins], parts[:, j * frames : (j + 1) * frames, self.bins :]
            re, im = a * self.cos[j] + b * self.sin[j], b * self.cos[j] - a * self.sin[j]
            real, imag = (re, im) if real is None else (real + re, imag + im)
        return real, imag

    def forward(self, wave: Tensor) -> Tensor:
        real, imag = self.spectrum(wave)
        magnitude = torch.sqrt(real * real + imag * imag)
        return torch.log(torch.matmul(magnitude, self.mel) + self.offset)
