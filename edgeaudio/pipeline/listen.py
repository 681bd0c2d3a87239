"""`listen`: a model on a stream of audio (a microphone, arecord on stdin, raw PCM, a file), window by window as
the audio arrives, with the same front end and windows as `predict`.

Runtime side: numpy, the audio libraries, the front end and an interpreter. The library reports each window or
event through a callback and never prints; a live source that runs ahead of the model is never followed
silently: windows are dropped, counted and announced (`note`) until the model has caught up.
"""

from __future__ import annotations

import dataclasses
import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from edgeaudio.errors import InputError
from edgeaudio.pipeline.predict import Predictor, Scored, top_scores


@dataclass
class ListenOptions:
    """How to listen: top labels per window, or events when `threshold` is set (a label's onset when its score,
    averaged over the last `smooth` windows, reaches the threshold; its offset when it falls below threshold -
    hysteresis). A live source may run `max_lag` seconds ahead of the model before windows are dropped."""

    top_k: int = 3
    threshold: float | None = None
    hysteresis: float = 0.1
    smooth: int = 3
    max_lag: float = 2.0


@dataclass
class WindowResult:
    """One window: where it starts, its top labels, and the compute it took (front end share, model, post)."""

    start_s: float
    top: list[Scored]
    compute_ms: float

    def to_dict(self) -> dict:
        """The fields of a window of predict's JSON (start_s, top), plus compute_ms."""
        return {"start_s": round(self.start_s, 3), "top": [s.to_dict() for s in self.top],
                "compute_ms": round(self.compute_ms, 3)}


@dataclass
class Event:
    """A label's onset or offset. An offset carries when its onset was, how long it lasted and its peak score."""

    event: str  # "onset" | "offset"
    label: str
    index: int
    time_s: float
    score: float
    onset_s: float | None = None
    peak: float | None = None

    def to_dict(self) -> dict:
        out = {"event": self.event, "label": self.label, "index": self.index, "time_s": round(self.time_s, 3),
               "score": round(self.score, 6)}
        if self.event == "offset":
            out.update(onset_s=round(self.onset_s, 3), duration_s=round(self.time_s - self.onset_s, 3),
                       peak=round(self.peak, 6))
        return out


@dataclass
class ListenSummary:
    """What a listening session did. real_time_factor: compute seconds (resampling, front end, model,
    post-processing) per second of audio; below 1 keeps up with a live source."""

    source: str
    live: bool
    hop_s: float
    window_s: float
    windows: int = 0
    dropped: int = 0
    overflows: int = 0  # blocks the audio device itself lost (a microphone read too late)
    events: int = 0
    audio_seconds: float = 0.0
    compute_seconds: float = 0.0
    wall_seconds: float = 0.0
    real_time_factor: float = 0.0
    compute_ms_p50: float = 0.0  # over the latest 10,000 windows
    compute_ms_max: float = 0.0
    ended: str = "end of stream"  # or "stopped" (Ctrl-C, SIGTERM)
    # the latest windows' compute times, for the median: bounded, so days of listening cost no more memory
    _compute_ms: deque = field(default_factory=lambda: deque(maxlen=10_000), repr=False)

    def to_dict(self) -> dict:
        out = {k: v for k, v in dataclasses.asdict(self).items() if not k.startswith("_")}
        for k, v in out.items():
            if isinstance(v, float):
                out[k] = round(v, 6)
        return out


class EventTracker:
    """Onsets and offsets of labels from window probabilities: smoothed over `smooth` windows, with hysteresis."""

    def __init__(self, labels: list[str], threshold: float, hysteresis: float, smooth: int):
        if not 0.0 < threshold <= 1.0:
            raise InputError(f"--threshold must be in (0, 1], got {threshold}")
        if not 0.0 <= hysteresis < threshold:
            raise InputError(f"--hysteresis must be at least 0 and below the threshold ({threshold}), got {hysteresis}")
        self.labels, self.threshold, self.hysteresis = labels, threshold, hysteresis
        self.history: deque = deque(maxlen=smooth)
        self.active: dict[int, tuple[float, float]] = {}  # class -> (onset second, peak smoothed score)

    def _name(self, i: int) -> str:
        return self.labels[i] if i < len(self.labels) else f"class {i}"

    def update(self, start_s: float, probs: np.ndarray) -> list[Event]:
        """The events one window (starting at start_s) causes."""
        self.history.append(np.asarray(probs, dtype=np.float64))
        smoothed = np.mean(self.history, axis=0)
        out = []
        for i in list(self.active):
            onset, peak = self.active[i]
            if smoothed[i] < self.threshold - self.hysteresis:
                del self.active[i]
                out.append(Event("offset", self._name(i), i, start_s, float(smoothed[i]), onset, peak))
            else:
                self.active[i] = (onset, max(peak, float(smoothed[i])))
        for i in np.flatnonzero(smoothed >= self.threshold):
            if int(i) not in self.active:
                self.active[int(i)] = (start_s, float(smoothed[i]))
                out.append(Event("onset", self._name(int(i)), int(i), start_s, float(smoothed[i])))
        return out

    def close(self, end_s: float) -> list[Event]:
        """Offsets at the end of the audio for every label still on."""
        out = [Event("offset", self._name(i), i, end_s, float(np.mean(self.history, axis=0)[i]), onset, peak)
               for i, (onset, peak) in sorted(self.active.items())]
        self.active.clear()
        return out


def with_window_hop(config, hop_s: float | None):
    """The front end `config` with windows every `hop_s` seconds (rounded to whole STFT frames), or as it is."""
    if hop_s is None:
        return config
    frames = int(round(hop_s * config.sample_rate / config.hop_length))
    if not 1 <= frames <= config.frames:
        step = config.hop_length / config.sample_rate
        raise InputError(f"--hop {hop_s} s must be between one frame ({step:g} s) and one window "
                         f"({config.frames * step:g} s) for this model")
    return dataclasses.replace(config, window_hop_frames=frames)


def listen(predictor: Predictor, blocks, options: ListenOptions, emit: Callable[[object], None],
           note: Callable[[str], None] = lambda _m: None, stop: threading.Event | None = None) -> ListenSummary:
    """Run `predictor` on `blocks` (an AudioBlocks) window by window until the audio ends or `stop` is set.

    `emit(record)` gets each WindowResult (or each Event, with options.threshold) as it happens; `note(text)`
    says when windows start and stop being dropped. Returns the summary.
    """
    from edgeaudio.audio.stream import prefetched
    from edgeaudio.frontend.stream import StreamingFrontend
    from edgeaudio.pipeline.predict import probabilities

    config = predictor.frontend
    rate = config.sample_rate
    frontend = StreamingFrontend(config)
    tracker = (EventTracker(predictor.labels, options.threshold, options.hysteresis, options.smooth)
               if options.threshold is not None else None)
    summary = ListenSummary(blocks.name, blocks.live, config.window_hop_samples / rate, config.clip_samples / rate)
    stop = stop or threading.Event()
    began = time.monotonic()
    first_audio: list[float] = []
    behind = {"since": None, "dropped": 0}

    def run_window(window) -> None:
        start_s = window.start / rate
        if blocks.live:  # how far the audio is ahead of this window's end, against the wall clock
            lag = (time.monotonic() - first_audio[0]) - (window.start + config.clip_samples) / rate
            if lag > options.max_lag:
                summary.dropped += 1
                behind["dropped"] += 1
                if behind["since"] is None:
                    behind["since"] = start_s
                    note(f"{start_s:.2f} s: the model is {lag:.1f} s behind the audio; dropping windows until it catches up")
                return
            if behind["since"] is not None:
                note(f"{start_s:.2f} s: caught up; dropped {behind['dropped']} window(s) since {behind['since']:.2f} s")
                behind.update(since=None, dropped=0)
        t0 = time.perf_counter()
        probs = probabilities(predictor.runner.run(window.input[None])[0], predictor.kind, predictor.head_act)[0]
        if tracker is not None:
            records = tracker.update(start_s, probs)
        else:
            records = [WindowResult(start_s, top_scores(probs, predictor.labels, options.top_k), 0.0)]
        spent = time.perf_counter() - t0
        summary.compute_seconds += spent
        summary.windows += 1
        summary._compute_ms.append(spent * 1e3)
        for record in records:
            if isinstance(record, WindowResult):
                record.compute_ms = spent * 1e3
            else:
                summary.events += 1
            emit(record)

    source = prefetched(blocks) if blocks.live else iter(blocks)
    try:
        for block in source:
            if stop.is_set():
                summary.ended = "stopped"
                break
            if block is None:
                continue
            if not first_audio:
                first_audio.append(time.monotonic() - len(block) / rate)
            for window in frontend.push(block):
                run_window(window)
                if stop.is_set():
                    break
        else:
            if frontend.received:
                for window in frontend.finish():
                    run_window(window)
    finally:
        if blocks.live:
            source.close()  # stops prefetched()'s reader thread, which closes the source it reads
        else:
            blocks.close()
    summary.audio_seconds = frontend.received / rate
    if tracker is not None:
        for event in tracker.close(summary.audio_seconds):
            summary.events += 1
            emit(event)
    summary.compute_seconds += frontend.seconds + blocks.clock.resample
    summary.wall_seconds = time.monotonic() - began
    summary.real_time_factor = summary.compute_seconds / summary.audio_seconds if summary.audio_seconds else 0.0
    if summary._compute_ms:
        summary.compute_ms_p50 = statistics.median(summary._compute_ms)
        summary.compute_ms_max = max(summary._compute_ms)
    summary.overflows = getattr(blocks, "overflows", [0])[0]
    return summary
