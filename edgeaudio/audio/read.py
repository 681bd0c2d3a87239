"""Decoding audio files with libsndfile (through soundfile) and changing their rate with libsoxr (through soxr).

Both are the field's own libraries, with wheels for x86-64 and aarch64 that bundle the C library: libsndfile reads
WAV/RF64/W64, FLAC, OGG/Vorbis, Opus, MP3, AIFF/AIFC, CAF and more; soxr's very-high-quality setting is
flat to within 1e-5 of the tone it resamples and rejects what lies above the new Nyquist frequency by over
95 dB (tests/test_audio_io.py measures both), at a fraction of a numpy resampler's time.

Integer PCM comes out scaled so full scale is [-1, 1), as librosa and soundfile do; float files as stored.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgeaudio.quiet import captured_fds

from .errors import AudioFormatError

# Every rate a real recording uses, 8 kHz telephony to 768 kHz high-resolution masters, with room below. A header
# outside them is broken, and believing it is what makes a 1.6 KB file cost gigabytes (4 GHz) or seconds (1 Hz).
MIN_SAMPLE_RATE = 4_000
MAX_SAMPLE_RATE = 768_000
MAX_CHANNELS = 64
_BLOCK_FRAMES = 1 << 18  # decode in blocks: memory follows the samples a file really holds, not what it declares


def sndfile_problem(exc: Exception) -> str:
    """libsndfile's own words, without soundfile's "Error opening '<path>': " prefix (the path leads anyway)."""
    text = str(getattr(exc, "error_string", "") or exc).strip()
    if ": " in text and text.startswith("Error opening"):
        text = text.split(": ", 1)[1]
    if "SF_INFO struct incomplete" in text:  # libsndfile's words for a rate or channel count it cannot hold
        return "its header declares a sample rate, channel count or format no real file has"
    if "not a regular file" in text:  # what libsndfile says of a regular file whose bytes no decoder takes
        return "its contents are in no format libsndfile reads"
    return text.rstrip(".") or "unknown error"


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Decode an audio file whole: (samples float32 (frames, channels), sample rate in Hz). The runtime reads
    recordings block by block (edgeaudio.audio.stream); this is for clips that are wanted whole.

    AudioFormatError (a ValueError naming the file) when it is missing, a folder, not audio libsndfile can
    decode, declares a sample rate outside MIN_SAMPLE_RATE..MAX_SAMPLE_RATE or more than MAX_CHANNELS
    channels, holds no samples, or holds NaN or infinite float samples.
    """
    import soundfile

    handle = open_sound_file(soundfile, path)
    # libsndfile's decoders (mpg123 for MP3) print notes about damaged frames on the process's own stderr
    with captured_fds():
        return _decode(soundfile, handle, path)


def open_sound_file(soundfile, path: str | os.PathLike):
    """An open soundfile.SoundFile of a file whose sample rate and channels are believable; AudioFormatError
    naming the file otherwise (missing, a folder, not audio, a broken header)."""
    p = Path(path)
    if p.is_dir():
        raise AudioFormatError(path, "is a folder, not an audio file")
    if not p.exists():
        raise AudioFormatError(path, "no such file")
    try:
        with captured_fds():
            handle = soundfile.SoundFile(str(p))
    except soundfile.LibsndfileError as exc:
        raise AudioFormatError(path, f"not audio that can be decoded (libsndfile: {sndfile_problem(exc)})") from None
    except OSError as exc:
        raise AudioFormatError(path, f"cannot be read: {exc.strerror or exc}") from None
    try:
        check_stream_format(handle.samplerate, handle.channels, path)
    except AudioFormatError:
        handle.close()
        raise
    return handle


def check_stream_format(rate: int, channels: int, path: str | os.PathLike) -> None:
    """AudioFormatError naming `path` when a header's sample rate or channel count is no real recording's."""
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioFormatError(path, f"its header declares a sample rate of {rate} Hz, outside the "
                                     f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz of real recordings: a broken header")
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioFormatError(path, f"its header declares {channels} channels (1-{MAX_CHANNELS} are read)")


def _decode(soundfile, handle, path: str | os.PathLike) -> tuple[np.ndarray, int]:
    with handle:
        rate = handle.samplerate
        blocks = []
        try:
            while True:
                block = handle.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)
                if not len(block):
                    break
                blocks.append(block)
        except soundfile.LibsndfileError as exc:
            raise AudioFormatError(path, f"corrupt: decoding failed: {sndfile_problem(exc)}") from None
    if not blocks:
        raise AudioFormatError(path, "empty: holds no samples")
    samples = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
    if not np.all(np.isfinite(samples)):
        raise AudioFormatError(path, "corrupt: the float samples include NaN or infinity")
    return samples, rate


def resample(waveform: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """A 1-D signal at orig_sr Hz at target_sr Hz, through soxr's very-high-quality setting: float32."""
    import soxr

    x = np.asarray(waveform, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"resample takes a 1-D signal, got shape {x.shape}")
    if orig_sr == target_sr:
        return x.copy()
    return soxr.resample(x, orig_sr, target_sr, quality="VHQ").astype(np.float32, copy=False)


def load_audio(path: str | os.PathLike, sample_rate: int) -> np.ndarray:
    """An audio file as the front end wants it: float32 mono at `sample_rate` Hz, full scale [-1, 1].

    Channels are averaged, then a different file rate is converted by soxr. Values are not clipped: float
    files may exceed 1, and resampling a clipped recording can overshoot full scale slightly, as librosa's
    loading (used in training) also would.
    """
    samples, rate = read_audio(path)
    return resample(to_mono(samples), rate, sample_rate)


def to_mono(samples: np.ndarray) -> np.ndarray:
    """(frames, channels) samples as one float32 channel, their mean (summed in float64)."""
    if samples.shape[1] == 1:
        return samples[:, 0]
    return samples.mean(axis=1, dtype=np.float64).astype(np.float32)
