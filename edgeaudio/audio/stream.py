"""Audio as it arrives: blocks decoded by libsndfile (files, a WAV stream on stdin), raw PCM, or a microphone
(PortAudio through sounddevice), mixed to mono and resampled block by block with soxr's streaming resampler.

Memory follows the block size, never the recording's length: a three-hour file is never held whole. soxr's
ResampleStream keeps its filter state between blocks, so the blocks join with no seam; the result differs from
resampling the whole signal at once by rounding only (tests/test_streaming.py measures it).
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from edgeaudio.quiet import captured_fds

from .errors import AudioFormatError
from .read import check_stream_format, open_sound_file, sndfile_problem, to_mono

BLOCK_SECONDS = 0.1  # a live block: short enough that a window is ready soon after its audio arrives
FILE_BLOCK_FRAMES = 1 << 16  # a file block: 1.4 s at 48 kHz, 1 MB as stereo float32
RAW_FORMATS = {"s16": np.dtype("<i2"), "s32": np.dtype("<i4"), "f32": np.dtype("<f4")}


@dataclass
class StageClock:
    """Seconds spent decoding and resampling so far (bench --audio reports them stage by stage)."""

    decode: float = 0.0
    resample: float = 0.0


class AudioBlocks:
    """Mono float32 blocks at `target_rate` Hz from `read_block` (a callable giving (frames, channels) float32,
    empty at the end) at `rate` Hz.

    `live` says the source runs in real time (a microphone, a stream on stdin, a paced file), so a reader that
    falls behind must drop work rather than wait. `samples_in` counts the source's frames read so far.
    """

    def __init__(self, name: str, read_block: Callable[[], np.ndarray], rate: int, channels: int, target_rate: int,
                 live: bool = False, close: Callable[[], None] | None = None):
        self.name, self.rate, self.channels, self.target_rate, self.live = name, rate, channels, target_rate, live
        self.clock = StageClock()
        self.samples_in = 0
        self._read_block, self._close = read_block, close

    def __iter__(self) -> Iterator[np.ndarray]:
        import soxr

        stream = None if self.rate == self.target_rate else soxr.ResampleStream(
            self.rate, self.target_rate, 1, dtype="float32", quality="VHQ")
        try:
            while True:
                t0 = time.perf_counter()
                block = self._read_block()
                t1 = time.perf_counter()
                self.clock.decode += t1 - t0
                last = not len(block)
                if not last:
                    self.samples_in += len(block)
                    if block.dtype.kind == "f" and not np.all(np.isfinite(block)):
                        raise AudioFormatError(self.name, "corrupt: the float samples include NaN or infinity")
                    mono = to_mono(block)
                else:
                    mono = np.zeros(0, dtype=np.float32)
                out = mono if stream is None else stream.resample_chunk(mono, last=last)
                self.clock.resample += time.perf_counter() - t1
                if len(out):
                    yield np.asarray(out, dtype=np.float32)
                if last:
                    return
        finally:
            self.close()

    def close(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None


def file_blocks(path: str | os.PathLike, target_rate: int, block_frames: int = FILE_BLOCK_FRAMES,
                realtime: bool = False) -> AudioBlocks:
    """An audio file decoded block by block (AudioFormatError naming it, as read_audio, when it cannot be).

    realtime=True paces the reading at the file's own rate, as a live source would deliver it.
    """
    import soundfile

    handle = open_sound_file(soundfile, path)
    rate = handle.samplerate
    if realtime:  # paced: blocks as short as a live source's
        block_frames = max(1, int(rate * BLOCK_SECONDS))
    started = time.monotonic()
    state = {"read": 0}

    def read() -> np.ndarray:
        if realtime:  # deliver no sample before its time: sleep until the audio read so far has "happened"
            wait = state["read"] / rate - (time.monotonic() - started)
            if wait > 0:
                time.sleep(wait)
        try:
            with captured_fds():
                block = handle.read(block_frames, dtype="float32", always_2d=True)
        except soundfile.LibsndfileError as exc:
            raise AudioFormatError(path, f"corrupt: decoding failed: {sndfile_problem(exc)}") from None
        state["read"] += len(block)
        return block

    return AudioBlocks(str(path), read, rate, handle.channels, target_rate, live=realtime, close=handle.close)


def wav_stream_blocks(stream, target_rate: int, name: str = "-") -> AudioBlocks:
    """A WAV (or any libsndfile format that streams: AU, FLAC, raw-headered) stream on a pipe, e.g. stdin from
    arecord or sox. libsndfile reads pipes from their file descriptor; a header whose length is unknown
    (arecord's, sox's to a pipe) is read to the end of the stream."""
    import soundfile

    fd = stream.fileno()
    try:
        with captured_fds():
            handle = soundfile.SoundFile(fd, mode="r", closefd=False)
    except soundfile.LibsndfileError as exc:
        raise AudioFormatError(name, f"not an audio stream libsndfile reads (libsndfile: {sndfile_problem(exc)}); "
                                     "for headerless PCM pass --raw --rate R --channels C --format F") from None
    check_stream_format(handle.samplerate, handle.channels, name)
    frames = max(1, int(handle.samplerate * BLOCK_SECONDS))

    def read() -> np.ndarray:
        try:
            return handle.read(frames, dtype="float32", always_2d=True)
        except soundfile.LibsndfileError as exc:
            raise AudioFormatError(name, f"corrupt: decoding failed: {sndfile_problem(exc)}") from None

    return AudioBlocks(name, read, handle.samplerate, handle.channels, target_rate, live=True, close=handle.close)


def raw_stream_blocks(stream, rate: int, channels: int, sample_format: str, target_rate: int,
                      name: str = "-") -> AudioBlocks:
    """Headerless little-endian PCM (`sample_format` s16, s32 or f32, channels interleaved) from a binary stream.
    Integers are scaled so full scale is [-1, 1), as libsndfile scales them."""
    if sample_format not in RAW_FORMATS:
        raise AudioFormatError(name, f"raw format {sample_format!r} is not one of {', '.join(RAW_FORMATS)}")
    check_stream_format(rate, channels, name)
    dtype = RAW_FORMATS[sample_format]
    frame_bytes = dtype.itemsize * channels
    want = max(1, int(rate * BLOCK_SECONDS)) * frame_bytes
    scale = 1.0 if dtype.kind == "f" else float(2 ** (8 * dtype.itemsize - 1))
    pending = bytearray()
    reader = getattr(stream, "read1", stream.read)  # read1: what the pipe holds now, without waiting for a full block

    def read() -> np.ndarray:
        while len(pending) < want:
            chunk = reader(want - len(pending))
            if not chunk:
                break
            pending.extend(chunk)
        whole = len(pending) - len(pending) % frame_bytes
        data = np.frombuffer(bytes(pending[:whole]), dtype=dtype).reshape(-1, channels)
        del pending[:whole]
        return (data.astype(np.float32) / np.float32(scale)) if scale != 1.0 else data.astype(np.float32)

    return AudioBlocks(name, read, rate, channels, target_rate, live=True)


def mic_blocks(device: str | None, target_rate: int, channels: int = 1, rate: int | None = None) -> AudioBlocks:
    """A microphone through PortAudio (the optional sounddevice package: pip install 'edgeaudio[mic]').

    Recorded at the model's rate unless `rate` is given (PortAudio converts where the device cannot); blocks
    PortAudio had to throw away because nothing read them in time are counted in `overflows`.
    """
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: the package is there but the PortAudio library is not
        raise AudioFormatError("mic", f"microphone input needs sounddevice and PortAudio: pip install 'edgeaudio[mic]' ({exc})") from None
    rate = rate or target_rate
    blocks: queue.Queue = queue.Queue()
    overflows = [0]

    def callback(indata, frames, when, status) -> None:
        if status.input_overflow:
            overflows[0] += 1
        blocks.put(indata.copy())

    try:
        dev = int(device) if device and device.isdigit() else device
        stream = sounddevice.InputStream(samplerate=rate, channels=channels, dtype="float32", device=dev,
                                         blocksize=max(1, int(rate * BLOCK_SECONDS)), callback=callback)
        stream.start()
    except Exception as exc:  # PortAudio's errors carry no common base class worth naming here
        raise AudioFormatError(f"mic:{device}" if device else "mic", f"cannot open the microphone: {exc}") from None

    def read() -> np.ndarray:
        while True:
            try:
                return blocks.get(timeout=0.5)
            except queue.Empty:
                if not stream.active:
                    return np.zeros((0, channels), dtype=np.float32)

    def close() -> None:
        stream.stop()
        stream.close()

    source = AudioBlocks(f"mic:{device}" if device else "mic", read, rate, channels, target_rate, live=True, close=close)
    source.overflows = overflows  # type: ignore[attr-defined]
    return source


def open_source(source: str, target_rate: int, *, raw: tuple[int, int, str] | None = None,
                realtime: bool = False, stdin=None) -> AudioBlocks:
    """The audio a `listen` SOURCE names: "-" (a WAV stream on stdin, or raw PCM when `raw` is
    (rate, channels, format)), "mic" or "mic:DEVICE", or a file (paced at its own rate with `realtime`)."""
    if source == "-":
        stdin = stdin if stdin is not None else sys.stdin.buffer
        if raw is not None:
            return raw_stream_blocks(stdin, *raw, target_rate)
        return wav_stream_blocks(stdin, target_rate)
    if raw is not None:
        raise AudioFormatError(source, "--raw reads standard input: give - as the source")
    if source == "mic" or source.startswith("mic:"):
        return mic_blocks(source[4:] or None, target_rate)
    if Path(source).is_dir():
        raise AudioFormatError(source, "is a folder, not an audio file")
    return file_blocks(source, target_rate, realtime=realtime)


def prefetched(blocks: AudioBlocks, max_blocks: int = 64) -> Iterator[np.ndarray | None]:
    """The blocks of `blocks`, read ahead by a thread so a live source is drained while the model runs.

    Yields None when no block has arrived for a moment (the caller can check whether to stop). The queue is
    bounded: a source faster than real time (a file through a pipe) waits for the reader instead of filling
    memory. Errors in the reader are raised here. Closing this generator stops the reader.
    """
    ahead: queue.Queue = queue.Queue(max_blocks)
    done, finished = object(), threading.Event()

    def hand_over(item) -> bool:
        while not finished.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def pump() -> None:
        try:
            for block in blocks:  # leaving this loop closes the source (and frees its resampler) in this thread
                if not hand_over(block):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it where it can be reported
            hand_over(exc)
        hand_over(done)

    reader = threading.Thread(target=pump, name="edgeaudio-audio-reader", daemon=True)
    reader.start()
    try:
        while True:
            try:
                item = ahead.get(timeout=0.2)
            except queue.Empty:
                yield None
                continue
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        finished.set()
        reader.join(timeout=1.0)  # a source blocked in a read that never returns is left to the exit
