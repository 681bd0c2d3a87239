"""The front end over a ring buffer: model windows as the audio arrives, each STFT frame computed once.

`StreamingFrontend.push(samples)` takes mono samples at the config's rate as they come and returns the windows
they complete; `finish()` returns the windows only the end of the audio decides (the official window aligned to
the end, YAMNet's zero-padded last patch, a clip shorter than one window). Memory holds about one window of
samples and frames, whatever the recording's length.

The windows are those of clip_to_model_inputs() on the whole waveform, with the same starts:
- official kind: the frames a window shares with the long spectrogram are taken from it, computed once however
  much the windows overlap; the few frames at each end of a window, whose STFT frame reaches past the window's
  own slice (the official loaders zero-pad there), are recomputed from the slice: 1 + 1 frames at 16 kHz 20/10 ms.
  So a window equals the one computed from its own slice, to rounding, not just "nearly"; cutting the edge
  frames from the long spectrogram as well would change them (benchmarks/streaming.py measures by how much);
- YAMNet kinds: patches are cut from one long spectrogram of the zero-padded waveform, as the whole-file path
  already does; raw-waveform windows are cut from the samples.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .config import WAVEFORM_KINDS, FrontendConfig
from .logmel import logmel, logmel_of_frames
from .windows import clip_to_model_inputs


MIN_FRAMES = 128  # frames computed together when no window is waiting for them


@dataclass
class Window:
    """One model input (without the batch axis) and the sample of the audio it starts at."""

    start: int
    input: np.ndarray


class _Ring:
    """Rows [first, first + size) of an unbounded sequence in one array. Dropping old rows only moves a start
    index; the live rows are moved to the front (or the array grown) when an append finds no room, so each row
    is copied a bounded number of times. Hand-written: numpy has no ring, and collections.deque of rows would make
    every window a copy of hundreds of small arrays."""

    def __init__(self, row_shape: tuple[int, ...], dtype, first: int = 0, capacity: int = 1024):
        self.data = np.zeros((capacity, *row_shape), dtype=dtype)
        self.first = first  # absolute index of the oldest row held
        self.size = 0
        self._at = 0  # where that row sits in `data`

    @property
    def end(self) -> int:
        return self.first + self.size

    def append(self, rows: np.ndarray) -> None:
        n = len(rows)
        if self._at + self.size + n > len(self.data):
            live = self.data[self._at : self._at + self.size]
            if self.size + n > len(self.data) // 2:  # moving to the front would soon be needed again: grow
                grown = np.zeros((max(2 * len(self.data), 2 * (self.size + n)), *self.data.shape[1:]), self.data.dtype)
                grown[: self.size] = live
                self.data = grown
            else:
                self.data[: self.size] = live  # numpy copies through a buffer where the two overlap
            self._at = 0
        self.data[self._at + self.size : self._at + self.size + n] = rows
        self.size += n

    def drop_before(self, index: int) -> None:
        """Forget rows before absolute `index`."""
        k = min(max(0, index - self.first), self.size)
        self.first += k
        self.size -= k
        self._at += k

    def rows(self, a: int, b: int) -> np.ndarray:
        """Rows [a, b) by absolute index (a view)."""
        if a < self.first or b > self.end:
            raise IndexError(f"rows {a}..{b} are not held ({self.first}..{self.end})")
        return self.data[self._at + a - self.first : self._at + b - self.first]


class StreamingFrontend:
    """Model windows of a mono stream at config.sample_rate, as clip_to_model_inputs() cuts them from the whole.

    `seconds` is the time spent computing features (the front end's own cost).
    """

    def __init__(self, config: FrontendConfig):
        self.config = config
        self.received = 0
        self.emitted = 0  # windows returned so far
        self.last_start: int | None = None
        self.seconds = 0.0
        c = config
        self.raw = c.kind in WAVEFORM_KINDS
        self.hop_samples = c.window_hop_samples
        # Frame t's win_length samples start at t * hop - offset (centred frames reach back half a window).
        self.offset = (c.n_fft // 2 - (c.n_fft - c.win_length) // 2) if c.center else 0
        self.wave = _Ring((), np.float64, first=-self.offset, capacity=max(4 * c.clip_samples, 1 << 16))
        self.wave.append(np.zeros(self.offset))  # constant padding before the first sample, as the STFT pads
        self.frames = _Ring((c.n_mels,), np.float32, capacity=4 * c.frames)
        self.next_frame = 0
        if c.kind == "official_logmel":
            hop = c.hop_length
            # Frames of a window's own slice that reach outside it: the first `left`, and those from `right_from`.
            self.left = -(-self.offset // hop)
            self.right_from = (c.window_samples + self.offset - c.win_length) // hop + 1
            self.right_seg = max(0, self.right_from - self.left)  # slice frame the tail segment starts at

    # -- feeding ---------------------------------------------------------------------------------------------
    def push(self, samples: np.ndarray) -> list[Window]:
        """Take the next mono samples; return the windows they complete, in order."""
        x = np.asarray(samples, dtype=np.float64).reshape(-1)
        if not x.size:
            return []
        t0 = time.perf_counter()
        self.wave.append(x)
        self.received += x.size
        out = self._ready()
        self.seconds += time.perf_counter() - t0
        return out

    def finish(self) -> list[Window]:
        """The windows the end of the audio decides; ValueError when no sample ever came."""
        if self.received == 0:
            raise ValueError("no samples: the audio is empty")
        t0 = time.perf_counter()
        c = self.config
        if c.kind == "official_logmel":
            out = self._finish_official()
        else:  # YAMNet's rule: zero-pad to clip_samples plus a whole number of window hops, then the rest
            n = self.received
            target = c.clip_samples
            if n > target:
                target += math.ceil((n - target) / self.hop_samples) * self.hop_samples
            self.wave.append(np.zeros(target - n))
            self.received = target
            out = self._ready()
            self.received = n
        self.seconds += time.perf_counter() - t0
        return out

    # -- internals -----------------------------------------------------------------------------------------
    def _window(self, start: int, features: np.ndarray) -> Window:
        self.emitted += 1
        self.last_start = start
        return Window(start, features)

    def _last_frame(self) -> int:
        """The last STFT frame whose samples have all arrived."""
        c = self.config
        return (self.received + self.offset - c.win_length) // c.hop_length

    def _compute_frames(self, needed: bool) -> None:
        """Every STFT frame whose samples have all arrived, each once, onto the frame ring: when a window needs
        them, or once MIN_FRAMES are waiting (a call on a few frames costs nearly what one on a hundred does)."""
        c = self.config
        last = self._last_frame()
        if last < self.next_frame or (not needed and last + 1 - self.next_frame < MIN_FRAMES):
            return
        a = self.next_frame * c.hop_length - self.offset
        segment = self.wave.rows(a, last * c.hop_length - self.offset + c.win_length)
        cut = np.lib.stride_tricks.sliding_window_view(segment, c.win_length)[:: c.hop_length]
        peak = float(np.abs(segment).max()) if segment.size else 0.0
        self.frames.append(logmel_of_frames(cut, c, peak))
        self.next_frame = last + 1

    def _ready(self) -> list[Window]:
        c = self.config
        out: list[Window] = []
        if self.raw:
            while self.emitted * self.hop_samples + c.clip_samples <= self.received:
                s = self.emitted * self.hop_samples
                out.append(self._window(s, self.wave.rows(s, s + c.clip_samples).astype(np.float32)))
            self.wave.drop_before(self.emitted * self.hop_samples)
            return out
        hop_frames = c.window_hop_frames
        if c.kind == "yamnet":
            self._compute_frames(self.emitted * hop_frames + c.frames - 1 <= self._last_frame())
        else:
            self._compute_frames(self.emitted * self.hop_samples + c.clip_samples <= self.received)
        if c.kind == "yamnet":
            while (self.emitted * hop_frames + c.frames) <= self.next_frame:
                t = self.emitted * hop_frames
                out.append(self._window(t * c.hop_length, self.frames.rows(t, t + c.frames)[None].copy()))
        else:
            while self.emitted * self.hop_samples + c.clip_samples <= self.received:
                s = self.emitted * self.hop_samples
                out.append(self._window(s, self._official_window(s)))
        next_start_frame = self.emitted * hop_frames
        self.frames.drop_before(next_start_frame)
        keep = min(next_start_frame * c.hop_length, self.next_frame * c.hop_length - self.offset)
        if c.kind == "official_logmel":  # the window aligned to the end may start up to clip_samples back
            keep = min(keep, self.received - c.clip_samples)
        self.wave.drop_before(keep)
        return out

    def _official_window(self, s: int) -> np.ndarray:
        """The window of slice [s, s + window_samples), s on the frame grid: shared frames from the ring, the
        edge frames recomputed from the slice (see the module doc)."""
        c = self.config
        t = s // c.hop_length
        features = np.empty((c.frames, c.n_mels), dtype=np.float32)
        shared = min(self.right_from, c.frames)  # the right edge frames may not be computed yet: not needed
        features[:shared] = self.frames.rows(t, t + shared)
        if self.left:
            head = self.wave.rows(s, s + min(c.window_samples, (self.left - 1) * c.hop_length - self.offset + c.win_length
                                            + (c.n_fft // 2 if c.pad_mode == "reflect" else 0)))
            features[: self.left] = logmel(head, c)[: self.left]
        if self.right_from < c.frames:
            tail = self.wave.rows(s + self.right_seg * c.hop_length, s + c.window_samples)
            features[self.right_from :] = logmel(tail, c)[self.right_from - self.right_seg :]
        return features[None]

    def _finish_official(self) -> list[Window]:
        c = self.config
        n = self.received
        if self.emitted == 0:  # shorter than one window: the official short-clip rule, on the samples held
            return [self._window(0, clip_to_model_inputs(self.wave.rows(0, n), c)[0])]
        delta = n - c.clip_samples
        if self.last_start == delta:
            return []
        return [self._window(delta, logmel(self.wave.rows(delta, delta + c.window_samples), c)[None])]
