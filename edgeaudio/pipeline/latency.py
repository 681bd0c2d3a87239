"""Audio in, labels out, timed stage by stage: what a user on a device waits for, not the model call alone.

Runtime side (numpy, the audio libraries, an interpreter). Each run goes through every stage predict takes for
one clip: decoding the file, mixing and resampling to the front end's rate, the front end (log-mels cut into
model windows), the model on those windows, and post-processing (probabilities, the clip's mean, top labels).
The real-time factor is compute seconds per second of audio: below 1 keeps up with a microphone.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import asdict, dataclass, field

STAGES = ("decode", "resample", "front end", "model", "post-processing")


@dataclass
class StageTime:
    stage: str
    p50_ms: float  # per clip
    p90_ms: float
    per_window_ms: float  # p50 per clip / windows
    share: float  # of the total p50


@dataclass
class AudioLatency:
    model: str
    clip: str
    clip_seconds: float
    file_rate: int
    model_rate: int
    windows: int
    threads: int | None
    runs: int
    stages: list[StageTime] = field(default_factory=list)
    total_p50_ms: float = 0.0
    total_p90_ms: float = 0.0
    real_time_factor: float = 0.0  # compute seconds per second of audio, from the total p50
    backend: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure_audio_latency(model: str | os.PathLike, clip: str | os.PathLike, threads: int | None = None,
                          runs: int = 20, warmup: int = 2, progress=None) -> AudioLatency:
    """Time every stage of predicting `clip` with `model`, `runs` times after `warmup` untimed runs."""
    from edgeaudio.audio import read_audio, resample, to_mono
    from edgeaudio.pipeline.predict import Predictor

    predictor = Predictor(model, threads)
    rate = predictor.frontend.sample_rate
    times: dict[str, list[float]] = {s: [] for s in STAGES}
    totals: list[float] = []
    for i in range(warmup + runs):
        marks = [time.perf_counter()]
        samples, file_rate = read_audio(clip)
        marks.append(time.perf_counter())
        wave = resample(to_mono(samples), file_rate, rate)
        marks.append(time.perf_counter())
        windows, starts = predictor.windows_of(wave)
        marks.append(time.perf_counter())
        outputs = predictor.runner.run(windows)[0]
        marks.append(time.perf_counter())
        predictor.labelled(outputs, starts, 5)
        marks.append(time.perf_counter())
        if i >= warmup:
            for stage, a, b in zip(STAGES, marks, marks[1:]):
                times[stage].append((b - a) * 1e3)
            totals.append((marks[-1] - marks[0]) * 1e3)
        if progress and (i + 1) % 10 == 0:
            progress(f"{i + 1}/{warmup + runs} runs")
    seconds = len(wave) / rate
    total = statistics.median(totals)
    result = AudioLatency(str(model), str(clip), round(seconds, 3), file_rate, rate, len(windows), threads, runs,
                          total_p50_ms=round(total, 3), total_p90_ms=round(_pct(totals, 0.9), 3),
                          real_time_factor=float(f"{total / 1e3 / seconds:.6g}"), backend=predictor.runner.backend)
    for stage in STAGES:
        p50 = statistics.median(times[stage])
        result.stages.append(StageTime(stage, round(p50, 3), round(_pct(times[stage], 0.9), 3),
                                       round(p50 / len(windows), 3), round(p50 / total, 4)))
    return result
