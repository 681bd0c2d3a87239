"""A recording's model windows in small batches as it is decoded: the one way predict, eval, bench --audio,
calibration and listen read audio, so peak memory does not depend on the recording's length.

Runtime side: numpy, soundfile, soxr and the numpy front end.
"""

from __future__ import annotations

import os
from typing import Iterable, Iterator

import numpy as np

from edgeaudio.audio.errors import AudioFormatError

BATCH = 16  # windows per model call: a few MB of inputs, and the interpreter's per-call overhead paid rarely


class ClipStream:
    """The model windows of `blocks` (an AudioBlocks, or any iterable of mono float32 blocks at the front end's
    rate) for `frontend`, with what a report needs about the audio: samples, peak level, time per stage."""

    def __init__(self, blocks: Iterable[np.ndarray], frontend, name: str = "audio"):
        from edgeaudio.frontend.stream import StreamingFrontend

        self.blocks, self.name = blocks, name
        self.frontend = StreamingFrontend(frontend)
        self.rate = frontend.sample_rate
        self.peak: float | None = None

    @classmethod
    def of_file(cls, path: str | os.PathLike, frontend) -> "ClipStream":
        """A file decoded block by block (AudioFormatError naming it when it cannot be read)."""
        from edgeaudio.audio.stream import file_blocks

        return cls(file_blocks(path, frontend.sample_rate), frontend, str(path))

    @property
    def seconds(self) -> float:
        """Seconds of audio read so far, at the front end's rate."""
        return self.frontend.received / self.rate

    def silent(self) -> str | None:
        """Why the audio read holds no sound, or None (see edgeaudio.audio.silence_problem)."""
        from edgeaudio.audio import silence_of_peak

        return silence_of_peak(self.peak)

    def windows(self) -> Iterator:
        """Each Window (start sample, model input) as the audio completes it."""
        for block in self.blocks:
            if block.size:
                peak = float(np.abs(block).max())
                self.peak = peak if self.peak is None else max(self.peak, peak)
            yield from self.frontend.push(block)
        try:
            yield from self.frontend.finish()
        except ValueError:
            raise AudioFormatError(self.name, "empty: holds no samples") from None

    def batches(self, size: int = BATCH) -> Iterator[tuple[np.ndarray, list[float]]]:
        """(model inputs (B, ...) float32, each window's start second), B <= size, until the audio ends."""
        inputs, starts = [], []
        for window in self.windows():
            inputs.append(window.input)
            starts.append(window.start / self.rate)
            if len(inputs) == size:
                yield np.stack(inputs), starts
                inputs, starts = [], []
        if inputs:
            yield np.stack(inputs), starts


def file_windows(path: str | os.PathLike, frontend) -> tuple[np.ndarray, list[float], ClipStream]:
    """Every model window of a file at once (N, ...), their start seconds, and the stream that read them: for
    jobs that want a clip's windows together (calibration), still decoded and windowed as a stream."""
    stream = ClipStream.of_file(path, frontend)
    inputs, starts = [], []
    for window in stream.windows():
        inputs.append(window.input)
        starts.append(window.start / stream.rate)
    return np.stack(inputs), starts, stream
