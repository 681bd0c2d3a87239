"""WAV reading in every supported encoding, mono mixing, the polyphase resampler's accuracy, and the errors
a bad file produces."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from edgeaudio.audio import (
    AudioFormatError,
    PolyphaseResampler,
    check_not_silent,
    load_audio,
    read_wav,
    resample,
)

PCM, FLOAT, EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")
RATIOS = [(44100, 16000), (48000, 16000), (8000, 16000), (22050, 24000)]


# ---------------------------------------------------------------- a small WAV writer

def chunk(chunk_id: bytes, body: bytes, declared: int | None = None) -> bytes:
    size = len(body) if declared is None else declared
    return chunk_id + struct.pack("<I", size) + body + (b"\0" if len(body) % 2 else b"")


def fmt_body(code: int, channels: int, rate: int, bits: int, extensible: bool = False) -> bytes:
    block = channels * bits // 8
    tag = EXTENSIBLE if extensible else code
    body = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    if extensible:
        body += struct.pack("<HHI", 22, bits, (1 << channels) - 1) + struct.pack("<H", code) + GUID_TAIL
    return body


def riff(*chunks: bytes, form: bytes = b"RIFF") -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return form + struct.pack("<I", len(body)) + body


def wav_file(path: Path, payload: bytes, code: int, channels: int, rate: int, bits: int,
             extensible: bool = False) -> Path:
    path.write_bytes(riff(chunk(b"fmt ", fmt_body(code, channels, rate, bits, extensible)),
                          chunk(b"data", payload)))
    return path


def encode(values: np.ndarray, code: int, bits: int) -> tuple[bytes, np.ndarray]:
    """(payload bytes, the float values a reader must return) for integer codes or float values."""
    if code == FLOAT:
        dtype = "<f4" if bits == 32 else "<f8"
        stored = values.astype(dtype)
        return stored.tobytes(), stored.astype(np.float64)
    if bits == 8:
        return values.astype(np.uint8).tobytes(), (values - 128.0) / 128.0
    if bits == 24:
        as_u32 = (values.astype(np.int64) & 0xFFFFFF).astype("<u4")
        return as_u32.view(np.uint8).reshape(-1, 4)[:, :3].tobytes(), values / 2.0 ** 23
    dtype = "<i2" if bits == 16 else "<i4"
    return values.astype(dtype).tobytes(), values / 2.0 ** (bits - 1)


def random_codes(rng, frames: int, channels: int, code: int, bits: int) -> np.ndarray:
    """Random sample codes of the format, the extremes included."""
    if code == FLOAT:
        values = rng.uniform(-1.0, 1.0, (frames, channels))
        values[0], values[1] = -1.0, 1.0
        return values
    lo, hi = (0, 255) if bits == 8 else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    values = rng.integers(lo, hi, (frames, channels), endpoint=True).astype(np.float64)
    values[0], values[1] = lo, hi
    return values


FORMATS = [(PCM, 8), (PCM, 16), (PCM, 24), (PCM, 32), (FLOAT, 32), (FLOAT, 64)]


# ---------------------------------------------------------------- reading

@pytest.mark.parametrize("code, bits", FORMATS, ids=lambda v: str(v))
@pytest.mark.parametrize("extensible", [False, True], ids=["plain", "extensible"])
@pytest.mark.parametrize("channels", [1, 3])
def test_read_wav_returns_the_written_samples_in_every_format(tmp_path, code, bits, extensible, channels):
    values = random_codes(np.random.default_rng(bits + channels), 1001, channels, code, bits)
    payload, expected = encode(values, code, bits)
    path = wav_file(tmp_path / "x.wav", payload, code, channels, 22050, bits, extensible)
    samples, rate = read_wav(path)
    assert rate == 22050 and samples.dtype == np.float32 and samples.shape == (1001, channels)
    np.testing.assert_array_equal(samples, expected.astype(np.float32))


def test_integer_pcm_full_scale_maps_to_minus_one_and_just_below_one(tmp_path):
    payload, _ = encode(np.array([[-32768.0], [32767.0], [0.0]]), PCM, 16)
    samples, _ = read_wav(wav_file(tmp_path / "x.wav", payload, PCM, 1, 8000, 16))
    assert samples[:, 0].tolist() == [-1.0, 32767 / 32768, 0.0]


def test_read_wav_reads_stdlib_wave_16_bit_stereo(tmp_path):
    codes = np.random.default_rng(0).integers(-32768, 32767, (500, 2), endpoint=True).astype("<i2")
    with wave.open(str(tmp_path / "s.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(codes.tobytes())
    samples, rate = read_wav(tmp_path / "s.wav")
    assert rate == 44100
    np.testing.assert_array_equal(samples, codes / 32768.0)


def test_odd_sized_chunks_are_skipped_with_their_pad_byte_in_any_order(tmp_path):
    values = np.arange(7, dtype=np.float64)[:, None] + 100  # 7 bytes of 8-bit data: an odd data chunk
    payload, expected = encode(values, PCM, 8)
    path = tmp_path / "odd.wav"
    path.write_bytes(riff(chunk(b"LIST", b"abcde"), chunk(b"data", payload),
                          chunk(b"fmt ", fmt_body(PCM, 1, 11025, 8)), chunk(b"junk", b"xyz")))
    samples, rate = read_wav(path)
    assert rate == 11025
    np.testing.assert_array_equal(samples, expected.astype(np.float32))


def test_rf64_file_with_sizes_in_ds64_is_read(tmp_path):
    values = random_codes(np.random.default_rng(1), 300, 2, PCM, 16)
    payload, expected = encode(values, PCM, 16)
    ds64 = struct.pack("<QQQI", 0, len(payload), 300, 0)
    path = tmp_path / "big.wav"
    path.write_bytes(b"RF64" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + chunk(b"ds64", ds64)
                     + chunk(b"fmt ", fmt_body(PCM, 2, 48000, 16)) + chunk(b"data", payload, declared=0xFFFFFFFF))
    samples, rate = read_wav(path)
    assert rate == 48000
    np.testing.assert_array_equal(samples, expected.astype(np.float32))


# ---------------------------------------------------------------- load_audio: mixing and resampling

def test_load_audio_mixes_channels_to_their_mean(tmp_path):
    rng = np.random.default_rng(2)
    values = random_codes(rng, 400, 2, PCM, 16)
    payload, expected = encode(values, PCM, 16)
    out = load_audio(wav_file(tmp_path / "st.wav", payload, PCM, 2, 16000, 16), 16000)
    assert out.dtype == np.float32 and out.shape == (400,)
    np.testing.assert_allclose(out, expected.mean(axis=1), atol=1e-7)


def test_load_audio_mixes_six_float_channels(tmp_path):
    values = random_codes(np.random.default_rng(3), 200, 6, FLOAT, 32)
    payload, expected = encode(values, FLOAT, 32)
    out = load_audio(wav_file(tmp_path / "51.wav", payload, FLOAT, 6, 24000, 32, extensible=True), 24000)
    np.testing.assert_allclose(out, expected.mean(axis=1), atol=1e-7)


@pytest.mark.parametrize("orig, target", RATIOS)
def test_load_audio_resamples_a_tone_to_within_1e_5_of_the_ideal(tmp_path, orig, target):
    t = np.arange(orig) / orig
    payload, _ = encode(0.5 * np.sin(2 * np.pi * 1000 * t)[:, None], FLOAT, 32)
    out = load_audio(wav_file(tmp_path / "tone.wav", payload, FLOAT, 1, orig, 32), target)
    assert out.shape == (target,)
    ideal = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(target) / target)
    edge = target // 20  # the first and last 50 ms see the zeros beyond the clip
    assert np.abs(out - ideal)[edge:-edge].max() < 1e-5


# ---------------------------------------------------------------- the resampler

@pytest.mark.parametrize("orig, target", RATIOS)
def test_polyphase_resampler_equals_resample_poly_with_the_same_filter(orig, target):
    signal = pytest.importorskip("scipy.signal")
    r = PolyphaseResampler(orig, target)
    x = np.random.default_rng(4).standard_normal(orig // 2)
    ref = signal.resample_poly(x, r.up, r.down, window=r.prototype() / r.up)
    y = r(x)
    assert y.shape == ref.shape == (r.output_length(x.size),)
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("orig, target", RATIOS)
def test_sine_resampled_is_within_2e_6_of_the_analytic_sine_and_beats_default_resample_poly(orig, target):
    # Measured: 44.1k->16k 6e-8, 48k->16k 5e-8, 22.05k->24k 7e-7, 8k->16k 1.5e-6;
    # scipy's default resample_poly filter: 5e-4 to 1.2e-3 on the same tones.
    signal = pytest.importorskip("scipy.signal")
    r = PolyphaseResampler(orig, target)

    def tones(n, sr):
        t = np.arange(n) / sr
        return 0.5 * np.sin(2 * np.pi * 1000 * t) + 0.3 * np.sin(2 * np.pi * 3000 * t + 1.0)

    x = tones(2 * orig, orig)
    y = r(x)
    ideal = tones(y.size, target)
    edge = 4 * r.half_taps
    ours = np.abs(y - ideal)[edge:-edge].max()
    scipy_default = np.abs(signal.resample_poly(x, r.up, r.down) - ideal)[edge:-edge].max()
    assert ours < 2e-6
    assert ours < scipy_default / 100


@pytest.mark.parametrize("orig, target", RATIOS)
def test_filter_is_flat_to_0_89_nyquist_and_rejects_100_db_beyond_nyquist(orig, target):
    # Measured on every ratio: passband within +7e-5 / -8.6e-5 dB, stopband at most -100.5 dB.
    r = PolyphaseResampler(orig, target)
    size = 1 << 22
    gain = np.abs(np.fft.rfft(r.prototype() / r.up, n=size))
    freq = np.fft.rfftfreq(size, d=1.0 / (orig * r.up))
    nyquist = min(orig, target) / 2
    passband = 20 * np.log10(gain[freq <= 0.89 * nyquist])
    stopband = 20 * np.log10(gain[freq >= nyquist])
    assert np.abs(passband).max() < 1e-3
    assert stopband.max() < -100.0


def test_a_tone_above_the_new_nyquist_is_removed_not_aliased():
    t = np.arange(44100) / 44100
    for freq in (8100.0, 9000.0, 15000.0):
        y = resample(np.sin(2 * np.pi * freq * t), 44100, 16000)[500:-500]
        assert 20 * np.log10(np.sqrt(2 * np.mean(y.astype(np.float64) ** 2))) < -95.0, freq


def test_equal_rates_return_the_signal_unchanged_and_lengths_round_up():
    x = np.random.default_rng(5).standard_normal(1001)
    np.testing.assert_array_equal(resample(x, 16000, 16000), x.astype(np.float32))
    assert resample(x, 44100, 16000).shape == (int(np.ceil(1001 * 160 / 441)),)
    assert resample(np.zeros(0), 48000, 16000).shape == (0,)


def test_resampler_rejects_bad_rates_and_multichannel_input():
    with pytest.raises(ValueError, match="orig_sr must be a positive integer"):
        PolyphaseResampler(0, 16000)
    with pytest.raises(ValueError, match="target_sr must be a positive integer"):
        PolyphaseResampler(16000, 16000.0)
    with pytest.raises(ValueError, match="1-D"):
        resample(np.zeros((10, 2)), 8000, 16000)


# ---------------------------------------------------------------- errors that name the file

def assert_audio_error(path, fragment: str, call=read_wav):
    with pytest.raises(AudioFormatError) as info:
        call(path)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.path == str(path) and fragment in err.problem
    assert str(err) == f"{path}: {err.problem}"


def test_audio_format_error_message_is_path_colon_problem():
    err = AudioFormatError(Path("/tmp/a.wav"), "silent: every sample is exactly zero")
    assert str(err) == "/tmp/a.wav: silent: every sample is exactly zero"
    assert err.path == "/tmp/a.wav" and err.problem == "silent: every sample is exactly zero"


def test_a_text_file_is_not_a_wav_file(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("hello, this is not audio")
    assert_audio_error(path, "not a WAV file: expected a RIFF/WAVE header")


def test_an_empty_file_is_not_a_wav_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    assert_audio_error(path, "found an empty file")


def test_a_cut_off_file_is_truncated(tmp_path):
    payload, _ = encode(random_codes(np.random.default_rng(6), 100, 1, PCM, 16), PCM, 16)
    path = wav_file(tmp_path / "cut.wav", payload, PCM, 1, 16000, 16)
    path.write_bytes(path.read_bytes()[:-50])
    assert_audio_error(path, "truncated: the data chunk declares 200 bytes but the file ends after 150")


def test_a_partial_last_frame_is_truncated(tmp_path):
    path = wav_file(tmp_path / "part.wav", b"\x01\x02\x03\x04\x05\x06", PCM, 2, 16000, 16)
    assert_audio_error(path, "6 data bytes is not a whole number of 4-byte frames")


def test_an_empty_data_chunk_has_no_samples(tmp_path):
    assert_audio_error(wav_file(tmp_path / "none.wav", b"", PCM, 1, 16000, 16), "empty: the data chunk holds no")


def test_missing_chunks_are_named(tmp_path):
    no_data = tmp_path / "nodata.wav"
    no_data.write_bytes(riff(chunk(b"fmt ", fmt_body(PCM, 1, 16000, 16))))
    assert_audio_error(no_data, "no data chunk")
    no_fmt = tmp_path / "nofmt.wav"
    no_fmt.write_bytes(riff(chunk(b"data", b"\0\0")))
    assert_audio_error(no_fmt, "no fmt chunk")


@pytest.mark.parametrize("code, bits, fragment", [
    (0x0007, 8, "mu-law (format code 0x0007), 8-bit"),
    (0x0002, 4, "Microsoft ADPCM (format code 0x0002)"),
    (PCM, 12, "integer PCM (format code 0x0001), 12-bit"),
    (FLOAT, 16, "IEEE float (format code 0x0003), 16-bit"),
    (0x1234, 16, "unknown encoding (format code 0x1234)"),
])
def test_unsupported_encodings_are_named(tmp_path, code, bits, fragment):
    path = tmp_path / "enc.wav"
    path.write_bytes(riff(chunk(b"fmt ", struct.pack("<HHIIHH", code, 1, 8000, 8000, 2, bits)),
                          chunk(b"data", b"\0\0")))
    assert_audio_error(path, f"unsupported sample format: {fragment}")


def test_extensible_with_an_unknown_subformat_guid_is_unsupported(tmp_path):
    body = bytearray(fmt_body(PCM, 1, 8000, 16, extensible=True))
    body[-1] ^= 0xFF
    path = tmp_path / "guid.wav"
    path.write_bytes(riff(chunk(b"fmt ", bytes(body)), chunk(b"data", b"\0\0")))
    assert_audio_error(path, "unsupported WAVE_FORMAT_EXTENSIBLE sub-format GUID")


def test_nan_in_a_float_file_is_corrupt(tmp_path):
    payload = np.array([0.1, np.nan, 0.2], dtype="<f4").tobytes()
    assert_audio_error(wav_file(tmp_path / "nan.wav", payload, FLOAT, 1, 8000, 32), "NaN or infinity")


def test_all_zero_file_is_reported_silent(tmp_path):
    path = wav_file(tmp_path / "zeros.wav", bytes(2000), PCM, 1, 16000, 16)
    assert_audio_error(path, "silent: every sample is exactly zero",
                       call=lambda p: check_not_silent(load_audio(p, 16000), p))


def test_sound_below_one_16_bit_step_is_silent_and_one_step_is_not(tmp_path):
    quiet = np.full(100, 1e-7)
    with pytest.raises(AudioFormatError, match=r"q.wav: silent: the peak level 1e-07 \(-140.0 dBFS\)"):
        check_not_silent(quiet, "q.wav")
    check_not_silent(np.array([0.0, 1 / 32768, 0.0]), "dither.wav")
    with pytest.raises(AudioFormatError, match="e.wav: empty: no samples"):
        check_not_silent(np.zeros(0), "e.wav")


def test_a_missing_file_or_a_folder_is_an_audio_error_naming_it(tmp_path):
    with pytest.raises(AudioFormatError, match="absent.wav: no such file"):
        read_wav(tmp_path / "absent.wav")
    with pytest.raises(AudioFormatError, match="cannot be read"):
        read_wav(tmp_path)
