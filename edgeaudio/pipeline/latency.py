"""Audio in, labels out, timed stage by stage: what a user on a device waits for, not the model call alone.

Runtime side (numpy, the audio libraries, an interpreter). Each run goes through every stage predict takes for
one clip, streamed as predict streams it: decoding the file block by block, mixing and resampling to the front
end's rate, the front end (log-mels cut into model windows), the model on batches of windows, and
post-processing (probabilities, the clip's mean, top labels); each stage's time is added up over the run.
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
    from edgeaudio.audio.stream import file_blocks
    from edgeaudio.pipeline.clip_stream import ClipStream
    from edgeaudio.pipeline.predict import ClipTally, Predictor, probabilities

    predictor = Predictor(model, threads)
    rate = predictor.frontend.sample_rate
    times: dict[str, list[float]] = {s: [] for s in STAGES}
    totals: list[float] = []
    for i in range(warmup + runs):
        # The stages interleave as the clip streams through: each is added up over the run.
        start = time.perf_counter()
        blocks = file_blocks(clip, rate)
        stream = ClipStream(blocks, predictor.frontend, str(clip))
        tally = ClipTally(predictor.labels, 5)
        model_s = post_s = 0.0
        for windows, starts in stream.batches():
            t0 = time.perf_counter()
            outputs = predictor.runner.run(windows)[0]
            t1 = time.perf_counter()
            tally.add(probabilities(outputs, predictor.kind, predictor.head_act), starts)
            model_s, post_s = model_s + t1 - t0, post_s + time.perf_counter() - t1
        t0 = time.perf_counter()
        tally.top()
        total = time.perf_counter() - start
        post_s += time.perf_counter() - t0
        # the front end is the rest of the stream's time: features, window cutting and batching
        spent = {"decode": blocks.clock.decode, "resample": blocks.clock.resample, "model": model_s,
                 "post-processing": post_s}
        spent["front end"] = max(0.0, total - sum(spent.values()))
        if i >= warmup:
            for stage in STAGES:
                times[stage].append(spent[stage] * 1e3)
            totals.append(total * 1e3)
        if progress and (i + 1) % 10 == 0:
            progress(f"{i + 1}/{warmup + runs} runs")
    file_rate, count = blocks.rate, tally.count
    seconds = stream.seconds
    total = statistics.median(totals)
    result = AudioLatency(str(model), str(clip), round(seconds, 3), file_rate, rate, count, threads, runs,
                          total_p50_ms=round(total, 3), total_p90_ms=round(_pct(totals, 0.9), 3),
                          real_time_factor=float(f"{total / 1e3 / seconds:.6g}"), backend=predictor.runner.backend)
    for stage in STAGES:
        p50 = statistics.median(times[stage])
        result.stages.append(StageTime(stage, round(p50, 3), round(_pct(times[stage], 0.9), 3),
                                       round(p50 / count, 3), round(p50 / total, 4)))
    return result
