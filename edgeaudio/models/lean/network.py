"""edgeaudio's LEAN-style model: a trainable raw-waveform encoder and a (frozen) YAMNet, realigned in time by
cross-attention, with a multi-label head. After LEAN (Choudhary et al., 2022), whose abstract is all that is
public; the layer sizes below are edgeaudio's design.

One input: a window of 16 kHz waveform holding `patches` YAMNet patches (N, 15600 + 7680 * (patches - 1)).
- YAMNet branch: log-mel in the graph (frontend.LogMel), cut into 96-frame patches every 48 frames, each
  through YAMNet's MobileNetV1 to its 1024-d embedding: one token per patch, every 0.48 s.
- Wave encoder: `filters` quadrature pairs of learned 4 ms filters (64 taps, stride 1 ms); energy per pair,
  averaged over 21 ms every 10 ms so its frames line up one to one with the log-mel frames; log (the
  compression that gives a range int8 can hold); batch norm; a stride-2 conv to 20 ms frames; residual
  depthwise-separable temporal blocks.
- Cross-attention: each YAMNet patch token (plus a learned patch position) queries the whole wave-frame
  sequence (plus learned frame positions), so every patch can pull the frames that belong to it, or to its
  neighbours when the events straddle a patch boundary: the temporal realignment.
- Fusion and head: [projected YAMNet token, attended wave features] -> linear + ReLU, mean over patches, linear,
  sigmoid (multi-label).
Batch norms only (no layer norm): each folds into the conv next to it for deployment, leaving no normalisation
op for int8 to break.

Deployment (int8): everything up to each LOG (the log-mel and the wave filters' log energy) stays float, since
raw waveform and linear spectra span a range 8 bits cannot hold; from the logs on, the network is int8. The
YAMNet projection is shared by the attention's queries and the fusion, to keep the int8 file within 4.5 MB.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from edgeaudio.fold.kernels import copy_into, fuse_bn_into_following_conv
from edgeaudio.fold.pairs import fold_pairs
from edgeaudio.models.common import OutputSelection, activate
from edgeaudio.models.lean.config import SAMPLE_RATE, LEANConfig
from edgeaudio.models.lean.frontend import LogMel
from edgeaudio.models.yamnet import YAMNet, YAMNetConfig

FORMS = ("training", "folded")
TAPS, STRIDE = 64, 16  # 4 ms filters every 1 ms
POOL, POOL_STRIDE = 21, 10  # energies averaged over 21 ms every 10 ms: one frame per log-mel frame
ENERGY_FLOOR = 1e-3


def _gabor_pairs(count: int, length: int) -> np.ndarray:
    """(2 * count, length) Hann-windowed cos and sin filters at mel-spaced centres: a filterbank to start from."""
    mel = np.linspace(2595 * np.log10(1 + 60 / 700), 2595 * np.log10(1 + 7800 / 700), count)
    hz = 700 * (10 ** (mel / 2595) - 1)
    t = np.arange(length) / SAMPLE_RATE
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)
    phase = 2 * np.pi * hz[:, None] * t
    return np.concatenate([window * np.cos(phase), window * np.sin(phase)]) / np.sqrt(length)


class SeparableBlock(nn.Module):
    """Residual temporal block: depthwise conv (k taps) + BN + ReLU, pointwise conv + BN, add, ReLU."""

    def __init__(self, channels: int, kernel: int, eps: float, folded: bool):
        super().__init__()
        self.depthwise = nn.Conv1d(channels, channels, kernel, padding=kernel // 2, groups=channels, bias=folded)
        self.depthwise_bn = nn.Identity() if folded else nn.BatchNorm1d(channels, eps=eps)
        self.pointwise = nn.Conv1d(channels, channels, 1, bias=folded)
        self.pointwise_bn = nn.Identity() if folded else nn.BatchNorm1d(channels, eps=eps)

    def forward(self, x: Tensor) -> Tensor:
        y = torch.relu(self.depthwise_bn(self.depthwise(x)))
        return torch.relu(x + self.pointwise_bn(self.pointwise(y)))

    def fold(self) -> nn.Module:
        return fold_pairs(self, [("depthwise", "depthwise_bn"), ("pointwise", "pointwise_bn")])


class WaveEncoder(nn.Module):
    """(N, samples) waveform -> (N, channels, wave_frames) features at a 20 ms hop."""

    def __init__(self, config: LEANConfig, folded: bool):
        super().__init__()
        eps = config.bn_eps
        self.filters = nn.Conv1d(1, 2 * config.filters, TAPS, stride=STRIDE, bias=False)
        self.pool = nn.AvgPool1d(POOL, stride=POOL_STRIDE)
        with torch.no_grad():
            self.filters.weight.copy_(torch.tensor(_gabor_pairs(config.filters, TAPS), dtype=torch.float32)[:, None])
        self.energy_bn = nn.Identity() if folded else nn.BatchNorm1d(config.filters, eps=eps)
        self.down = nn.Conv1d(config.filters, config.channels, 3, stride=2, bias=folded)  # unpadded: the BN before it folds exactly
        self.down_bn = nn.Identity() if folded else nn.BatchNorm1d(config.channels, eps=eps)
        self.blocks = nn.Sequential(*(SeparableBlock(config.channels, config.kernel, eps, folded) for _ in range(config.blocks)))
        self.pairs = config.filters

    def log_energy(self, wave: Tensor) -> Tensor:
        """(N, filters, stft_frames): log of each quadrature pair's mean energy per 10 ms frame."""
        y = self.filters(wave.unsqueeze(1))
        even, odd = y[:, : self.pairs], y[:, self.pairs :]
        return torch.log(self.pool(even * even + odd * odd) + ENERGY_FLOOR)

    def forward(self, wave: Tensor) -> Tensor:
        x = self.energy_bn(self.log_energy(wave))
        x = torch.relu(self.down_bn(self.down(x)))
        return self.blocks(x)

    def fold(self) -> nn.Module:
        folded = fold_pairs(self, [("down", "down_bn")])
        if not isinstance(self.energy_bn, nn.Identity):
            copy_into(folded.down, fuse_bn_into_following_conv(folded.down.weight, folded.down.bias, self.energy_bn))
            folded.energy_bn = nn.Identity()
        folded.blocks = nn.Sequential(*(block.fold() for block in self.blocks))
        return folded


class CrossAttention(nn.Module):
    """Queries (N, P, q_in) attend over keys/values (N, T, kv_in), each with learned positions; (N, P, dim)."""

    def __init__(self, q_in: int, kv_in: int, dim: int, heads: int, q_len: int, kv_len: int):
        super().__init__()
        self.heads, self.scale = heads, 1.0 / math.sqrt(dim // heads)
        self.query = nn.Linear(q_in, dim)  # on the projected YAMNet tokens: dim -> dim
        self.key = nn.Linear(kv_in, dim)
        self.value = nn.Linear(kv_in, dim)
        self.out = nn.Linear(dim, dim)
        self.query_position = nn.Parameter(torch.zeros(q_len, dim))
        self.key_position = nn.Parameter(torch.randn(kv_len, kv_in) * 0.02)

    def split(self, x: Tensor) -> Tensor:
        n, length, dim = x.shape
        return x.reshape(n, length, self.heads, dim // self.heads).transpose(1, 2)  # (N, heads, length, dim/heads)

    def forward(self, queries: Tensor, keys: Tensor) -> Tensor:
        keys = keys + self.key_position
        q = self.split(self.query(queries) + self.query_position) * self.scale
        attention = torch.softmax(torch.matmul(q, self.split(self.key(keys)).transpose(2, 3)), dim=-1)  # (N, heads, P, T)
        v = self.split(self.value(keys))
        n, _, p, _ = attention.shape
        return self.out(torch.matmul(attention, v).transpose(1, 2).reshape(n, p, -1))


class Head(nn.Module):
    """Fusion per patch, mean over patches, classifier; sigmoid (or softmax) when probabilities are asked."""

    def __init__(self, dim: int, num_classes: int, act: str):
        super().__init__()
        self.fuse = nn.Linear(2 * dim, dim)
        self.dropout = nn.Dropout(0.2)
        self.classifier = nn.Linear(dim, num_classes)
        self.act, self.output = act, "probs"

    def forward(self, tokens: Tensor, attended: Tensor) -> Tensor:
        """tokens: projected YAMNet tokens (N, P, dim); attended: the wave features each patch pulled (N, P, dim)."""
        fused = torch.relu(self.fuse(torch.cat([tokens, attended], dim=-1)))
        logits = self.classifier(self.dropout(fused.mean(dim=1)))
        return activate(self, logits)


class LEANStyle(OutputSelection, nn.Module):
    """Takes (N, samples) 16 kHz waveform in [-1, 1]; returns (N, classes) probabilities (eval) or logits."""

    arch = "lean"

    def __init__(self, config: LEANConfig, form: str = "training"):
        super().__init__()
        if form not in FORMS:
            raise ValueError(f"unknown form {form!r}; expected one of {FORMS}")
        self.config, self.form = config, form
        folded = form == "folded"
        self.logmel = LogMel()
        self.yamnet = YAMNet(YAMNetConfig(width=config.yamnet_width), form)
        self.yamnet.head = nn.Identity()  # LEAN uses YAMNet's embedding, not its 521 AudioSet classes
        if config.freeze_yamnet:
            self.yamnet.requires_grad_(False)
        self.wave = WaveEncoder(config, folded)
        self.project = nn.Linear(self.yamnet.config.embedding_size, config.dim)
        self.attention = CrossAttention(config.dim, config.channels, config.dim, config.heads, config.patches, config.wave_frames)
        self.head = Head(config.dim, config.num_classes[0], config.head_act)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.config.freeze_yamnet:
            self.yamnet.eval()  # a frozen branch keeps its batch-norm statistics
        return self

    def patches(self, wave: Tensor) -> Tensor:
        """(N * patches, 1, 96, 64) YAMNet patches of the window's log-mel, every 48 frames."""
        logmel = self.logmel(wave)
        cut = torch.stack([logmel[:, 48 * p : 48 * p + 96] for p in range(self.config.patches)], dim=1)
        return cut.reshape(-1, 1, 96, logmel.shape[-1])

    def yamnet_tokens(self, wave: Tensor) -> Tensor:
        """(N, patches, 1024): YAMNet's embedding of each patch."""
        return self.yamnet.embedding(self.patches(wave)).reshape(wave.shape[0], self.config.patches, -1)

    def forward_with_tokens(self, wave: Tensor, tokens: Tensor) -> Tensor:
        """The rest of the network given the YAMNet tokens (training caches them while YAMNet is frozen)."""
        frames = self.wave(wave).transpose(1, 2)  # (N, wave_frames, channels)
        projected = self.project(tokens)
        return self.head(projected, self.attention(projected, frames))

    def forward(self, wave: Tensor) -> Tensor:
        return self.forward_with_tokens(wave, self.yamnet_tokens(wave))

    def load_yamnet(self, state: dict[str, Tensor]) -> None:
        """Put YAMNet weights (edgeaudio keys, e.g. from an official yamnet.h5) into the YAMNet branch; its
        AudioSet head is not part of LEAN and is skipped."""
        self.yamnet.load_state_dict({k: v for k, v in state.items() if not k.startswith("head.")}, strict=True)
