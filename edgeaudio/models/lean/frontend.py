"""YAMNet's log-mel front end written as graph operations, so an exported model can start from raw waveform.

The STFT becomes one strided Conv1d whose filters are the periodic-Hann-windowed DFT basis (real and imaginary
parts), as YAMNet's own TFLite export replaces the STFT with framing and two DFT matmuls. Then magnitude, the
TensorFlow mel matrix as a matmul, and log(mel + 0.001): every step a builtin TFLite op. Only the bins the mel
matrix uses are computed (5..239 of 257: 125-7500 Hz), which changes nothing and saves 9% of the weights. The
tables come from edgeaudio.frontend, so this module and the numpy front end compute the same features.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from edgeaudio.frontend import PRESETS
from edgeaudio.frontend.logmel import hann_periodic
from edgeaudio.frontend.mel import mel_filterbank


def dft_filters(win_length: int, n_fft: int, bins: np.ndarray) -> np.ndarray:
    """(2 * len(bins), win_length): windowed cos rows, then windowed -sin rows, of DFT `bins` (frames padded at
    the end to n_fft, as tf.signal.stft does)."""
    n = np.arange(win_length, dtype=np.float64)
    k = np.asarray(bins, dtype=np.float64)[:, None]
    angle = 2.0 * np.pi * k * n / n_fft
    window = hann_periodic(win_length)
    return np.concatenate([window * np.cos(angle), -window * np.sin(angle)])


class LogMel(nn.Module):
    """(N, samples) waveform -> (N, frames, mels) log-mel, YAMNet's recipe (PRESETS["yamnet"])."""

    def __init__(self):
        super().__init__()
        config = PRESETS["yamnet"]
        weights = mel_filterbank(config)
        used = np.nonzero(weights.any(axis=1))[0]
        used = np.arange(used.min(), used.max() + 1)
        self.hop, self.bins, self.offset = config.hop_length, len(used), config.log_offset
        # Constants of the recipe, not learned: kept out of the state dict.
        self.register_buffer("dft", torch.tensor(dft_filters(config.win_length, config.n_fft, used), dtype=torch.float32)[:, None], persistent=False)
        self.register_buffer("mel", torch.tensor(weights[used], dtype=torch.float32), persistent=False)

    def forward(self, wave: Tensor) -> Tensor:
        spectrum = nn.functional.conv1d(wave.unsqueeze(1), self.dft, stride=self.hop)  # (N, 2 * bins, frames)
        real, imag = spectrum[:, : self.bins], spectrum[:, self.bins :]
        magnitude = torch.sqrt(real * real + imag * imag)
        return torch.log(torch.matmul(magnitude.transpose(1, 2), self.mel) + self.offset)
