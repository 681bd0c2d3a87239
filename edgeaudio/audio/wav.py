"""Reading WAV files with struct + numpy: RIFF/RF64 WAVE, PCM 8/16/24/32-bit, IEEE float 32/64-bit, and
WAVE_FORMAT_EXTENSIBLE carrying either. The standard library's `wave` reads integer PCM only.

Integer PCM is scaled so full scale is [-1, 1): 8-bit (unsigned) (u - 128) / 128, n-bit signed x / 2^(n-1),
as librosa and soundfile do. Float files are returned as stored.
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import numpy as np

from edgeaudio.errors import InputError

from .resample import resample

WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
# KSDATAFORMAT_SUBTYPE_* GUIDs are the format code followed by these 14 bytes (little-endian GUID layout).
_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")
_KNOWN_CODES = {0x0002: "Microsoft ADPCM", 0x0006: "A-law", 0x0007: "mu-law", 0x0011: "IMA ADPCM",
                0x0031: "GSM 6.10", 0x0050: "MPEG", 0x0055: "MP3"}
_SUPPORTED = {WAVE_FORMAT_PCM: (8, 16, 24, 32), WAVE_FORMAT_IEEE_FLOAT: (32, 64)}
_SIZE_FROM_DS64 = 0xFFFFFFFF  # RF64 puts this in 32-bit size fields and the real size in the ds64 chunk

DEFAULT_SILENCE_THRESHOLD = 1.0 / 32768  # one 16-bit step


class AudioFormatError(InputError, ValueError):
    """An audio file cannot be used: `path` names it, `problem` says what is wrong in one line.

    One of edgeaudio's user errors (exit status 2 at the CLI), and a ValueError for library callers.
    """

    def __init__(self, path: str | os.PathLike, problem: str):
        super().__init__(problem, path)


def _find_chunks(data: bytes, path: str | os.PathLike) -> tuple[bytes, bytes]:
    """The bodies of the 'fmt ' and 'data' chunks, walking the RIFF chunk list."""
    is_rf64 = data[:4] == b"RF64"
    ds64_data_size = None
    fmt = body = None
    pos = 12
    while pos + 8 <= len(data) and (fmt is None or body is None):
        chunk_id = data[pos:pos + 4]
        size = struct.unpack_from("<I", data, pos + 4)[0]
        start = pos + 8
        if chunk_id == b"ds64" and size >= 16 and start + 16 <= len(data):
            ds64_data_size = struct.unpack_from("<Q", data, start + 8)[0]
        if chunk_id == b"data":
            if is_rf64 and size == _SIZE_FROM_DS64 and ds64_data_size is not None:
                size = ds64_data_size
            if start + size > len(data):
                raise AudioFormatError(path, f"truncated: the data chunk declares {size} bytes but the file ends "
                                             f"after {len(data) - start}")
            body = data[start:start + size]
        elif chunk_id == b"fmt ":
            if start + size > len(data):
                raise AudioFormatError(path, "truncated: the file ends inside its fmt chunk")
            fmt = data[start:start + size]
        pos = start + size + (size & 1)  # chunks are word-aligned: odd sizes carry a pad byte
    if fmt is None:
        raise AudioFormatError(path, "not a usable WAV file: no fmt chunk describing the samples")
    if body is None:
        raise AudioFormatError(path, "not a usable WAV file: no data chunk (no samples)")
    return fmt, body


def _parse_fmt(fmt: bytes, path: str | os.PathLike) -> tuple[int, int, int, int, int]:
    """(format code, channels, sample rate, bits per sample, block align), extensible unwrapped."""
    if len(fmt) < 16:
        raise AudioFormatError(path, f"malformed fmt chunk ({len(fmt)} bytes, at least 16 expected)")
    code, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", fmt)
    if code == WAVE_FORMAT_EXTENSIBLE:
        if len(fmt) < 40:
            raise AudioFormatError(path, f"malformed WAVE_FORMAT_EXTENSIBLE fmt chunk ({len(fmt)} bytes, "
                                         "40 expected)")
        subformat = fmt[24:40]
        if subformat[2:] != _GUID_TAIL:
            raise AudioFormatError(path, f"unsupported WAVE_FORMAT_EXTENSIBLE sub-format GUID {subformat.hex()}")
        code = struct.unpack_from("<H", subformat)[0]
    if code not in _SUPPORTED or bits not in _SUPPORTED[code]:
        kind = {WAVE_FORMAT_PCM: "integer PCM", WAVE_FORMAT_IEEE_FLOAT: "IEEE float"}.get(code)
        kind = kind or _KNOWN_CODES.get(code, "unknown encoding")
        raise AudioFormatError(path, f"unsupported sample format: {kind} (format code 0x{code:04X}), {bits}-bit; "
                                     "readable are PCM 8/16/24/32-bit and IEEE float 32/64-bit")
    if channels == 0:
        raise AudioFormatError(path, "malformed fmt chunk: 0 channels")
    if rate == 0:
        raise AudioFormatError(path, "malformed fmt chunk: sample rate 0 Hz")
    if block_align != channels * bits // 8:
        raise AudioFormatError(path, f"malformed fmt chunk: block align {block_align} bytes, but {channels} "
                                     f"channel(s) of {bits} bits take {channels * bits // 8}")
    return code, channels, rate, bits, block_align


def _decode(raw: bytes, code: int, bits: int) -> np.ndarray:
    """Interleaved samples as float64 in the file's scale convention (see module doc)."""
    if code == WAVE_FORMAT_IEEE_FLOAT:
        return np.frombuffer(raw, dtype="<f4" if bits == 32 else "<f8").astype(np.float64)
    if bits == 8:
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    if bits == 24:
        # Put each 3-byte sample in the top of an int32, then shift back down to sign-extend it.
        wide = np.zeros((len(raw) // 3, 4), dtype=np.uint8)
        wide[:, 1:] = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        return (wide.view("<i4")[:, 0] >> 8).astype(np.float64) / float(1 << 23)
    return np.frombuffer(raw, dtype="<i2" if bits == 16 else "<i4").astype(np.float64) / float(1 << (bits - 1))


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read a WAV file: (samples float32 (frames, channels), sample rate in Hz).

    AudioFormatError (a ValueError naming the file) if it is not a RIFF/RF64 WAVE file, is truncated, holds no
    samples, uses a sample format outside PCM 8/16/24/32-bit and IEEE float 32/64-bit, or cannot be opened.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise AudioFormatError(path, "no such file") from None
    except OSError as exc:
        raise AudioFormatError(path, f"cannot be read: {exc.strerror or exc}") from None
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RF64") or data[8:12] != b"WAVE":
        found = "an empty file" if not data else f"a file starting with {data[:12]!r}"
        if data[:4] == b"RIFX":
            found = "a big-endian RIFX file, which is not supported"
        raise AudioFormatError(path, f"not a WAV file: expected a RIFF/WAVE header, found {found}")
    fmt, raw = _find_chunks(data, path)
    code, channels, rate, bits, block_align = _parse_fmt(fmt, path)
    if len(raw) % block_align:
        raise AudioFormatError(path, f"truncated: {len(raw)} data bytes is not a whole number of "
                                     f"{block_align}-byte frames")
    if not raw:
        raise AudioFormatError(path, "empty: the data chunk holds no samples")
    samples = _decode(raw, code, bits).reshape(-1, channels)
    if code == WAVE_FORMAT_IEEE_FLOAT and not np.all(np.isfinite(samples)):
        raise AudioFormatError(path, "corrupt: the float samples include NaN or infinity")
    return samples.astype(np.float32), rate


def load_audio(path: str | os.PathLike, sample_rate: int) -> np.ndarray:
    """A WAV file as the front end wants it: float32 mono at `sample_rate` Hz, full scale [-1, 1].

    Channels are averaged; a different file rate is converted with the Kaiser-windowed sinc polyphase resampler
    (edgeaudio.audio.resample). Values are not clipped: float files may exceed 1, and resampling a clipped
    recording can overshoot full scale slightly, as librosa's loading (used in training) also would.
    """
    samples, rate = read_wav(path)
    mono = samples.astype(np.float64).mean(axis=1)
    if rate != sample_rate:
        return resample(mono, rate, sample_rate)
    return mono.astype(np.float32)


def check_not_silent(samples: np.ndarray, path: str | os.PathLike,
                     threshold: float = DEFAULT_SILENCE_THRESHOLD) -> None:
    """Raise AudioFormatError naming `path` when `samples` are empty, all zero, or peak below `threshold`.

    The default threshold is one 16-bit step (1/32768, about -90 dBFS): below it a file holds no sound.
    """
    x = np.asarray(samples)
    if x.size == 0:
        raise AudioFormatError(path, "empty: no samples")
    peak = float(np.max(np.abs(x)))
    if peak == 0.0:
        raise AudioFormatError(path, "silent: every sample is exactly zero")
    if peak < threshold:
        raise AudioFormatError(path, f"silent: the peak level {peak:.3g} ({20 * math.log10(peak):.1f} dBFS) is "
                                     f"below the threshold {threshold:.3g}")


def write_wav(path: str | os.PathLike, samples: np.ndarray, sample_rate: int) -> Path:
    """Write mono or (frames, channels) float samples in [-1, 1] as 16-bit PCM WAV, atomically."""
    import wave

    from edgeaudio.atomic import atomic_path

    data = np.asarray(samples, dtype=np.float64)
    channels = 1 if data.ndim == 1 else data.shape[1]
    pcm = np.clip(np.round(data * 32767.0), -32768, 32767).astype("<i2")
    with atomic_path(path) as tmp:
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(channels)
            w.setsampwidth(2)
            w.setframerate(int(sample_rate))
            w.writeframes(pcm.tobytes())
    return Path(path)

