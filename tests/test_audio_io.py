"""Reading audio as people have it (WAV in every encoding, FLAC, OGG, Opus, MP3, AIFF; 8-192 kHz; mono and
multichannel) through libsndfile, resampling through soxr to the front end's rate, and the errors a bad file
produces: one line naming it, at once, with memory bounded by what the file holds."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from edgeaudio.audio import (
    AudioFormatError,
    audio_files,
    check_not_silent,
    load_audio,
    read_audio,
    resample,
    write_audio,
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
def test_read_audio_returns_the_written_samples_in_every_format(tmp_path, code, bits, extensible, channels):
    values = random_codes(np.random.default_rng(bits + channels), 1001, channels, code, bits)
    payload, expected = encode(values, code, bits)
    path = wav_file(tmp_path / "x.wav", payload, code, channels, 22050, bits, extensible)
    samples, rate = read_audio(path)
    assert rate == 22050 and samples.dtype == np.float32 and samples.shape == (1001, channels)
    np.testing.assert_array_equal(samples, expected.astype(np.float32))


def test_integer_pcm_full_scale_maps_to_minus_one_and_just_below_one(tmp_path):
    payload, _ = encode(np.array([[-32768.0], [32767.0], [0.0]]), PCM, 16)
    samples, _ = read_audio(wav_file(tmp_path / "x.wav", payload, PCM, 1, 8000, 16))
    assert samples[:, 0].tolist() == [-1.0, 32767 / 32768, 0.0]


def test_read_audio_reads_stdlib_wave_16_bit_stereo(tmp_path):
    codes = np.random.default_rng(0).integers(-32768, 32767, (500, 2), endpoint=True).astype("<i2")
    with wave.open(str(tmp_path / "s.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(codes.tobytes())
    samples, rate = read_audio(tmp_path / "s.wav")
    assert rate == 44100
    np.testing.assert_array_equal(samples, codes / 32768.0)


def test_odd_sized_chunks_are_skipped_with_their_pad_byte(tmp_path):
    values = np.arange(7, dtype=np.float64)[:, None] + 100  # 7 bytes of 8-bit data: an odd data chunk
    payload, expected = encode(values, PCM, 8)
    path = tmp_path / "odd.wav"
    path.write_bytes(riff(chunk(b"LIST", b"abcde"), chunk(b"fmt ", fmt_body(PCM, 1, 11025, 8)),
                          chunk(b"data", payload), chunk(b"junk", b"xyz")))
    samples, rate = read_audio(path)
    assert rate == 11025
    np.testing.assert_array_equal(samples, expected.astype(np.float32))


def test_rf64_file_with_sizes_in_ds64_is_read(tmp_path):
    values = random_codes(np.random.default_rng(1), 300, 2, PCM, 16)
    payload, expected = encode(values, PCM, 16)
    ds64 = struct.pack("<QQQI", 0, len(payload), 300, 0)
    path = tmp_path / "big.wav"
    path.write_bytes(b"RF64" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + chunk(b"ds64", ds64)
                     + chunk(b"fmt ", fmt_body(PCM, 2, 48000, 16)) + chunk(b"data", payload, declared=0xFFFFFFFF))
    samples, rate = read_audio(path)
    assert rate == 48000
    np.testing.assert_array_equal(samples, expected.astype(np.float32))


# ---------------------------------------------------------------- the formats people have, written with soundfile

def tones(n: int, sr: int) -> np.ndarray:
    t = np.arange(n) / sr
    return 0.5 * np.sin(2 * np.pi * 1000 * t) + 0.3 * np.sin(2 * np.pi * 3000 * t + 1.0)


@pytest.mark.parametrize("suffix, subtype", [(".flac", "PCM_16"), (".flac", "PCM_24"), (".aiff", "PCM_24"),
                                             (".wav", "PCM_24"), (".wav", "FLOAT"), (".wav", "ULAW")])
def test_lossless_and_companded_files_read_back_what_was_written(tmp_path, suffix, subtype):
    x = 0.9 * np.random.default_rng(7).uniform(-1, 1, (4000, 2))
    path = write_audio(tmp_path / f"clip{suffix}", x, 22050, subtype=subtype)
    samples, rate = read_audio(path)
    assert rate == 22050 and samples.shape == (4000, 2) and samples.dtype == np.float32
    step = {"PCM_16": 2.0 ** -15, "PCM_24": 2.0 ** -23, "FLOAT": 1e-7, "ULAW": 0.04}[subtype]
    assert np.abs(samples - x).max() <= step


@pytest.mark.parametrize("suffix, subtype, rate", [(".ogg", "VORBIS", 16000), (".opus", "OPUS", 48000),
                                                   (".mp3", "MPEG_LAYER_III", 44100)])
def test_lossy_files_decode_to_the_sound_that_was_encoded(tmp_path, suffix, subtype, rate):
    x = tones(rate, rate)
    path = write_audio(tmp_path / f"clip{suffix}", x, rate, subtype=subtype)
    samples, got_rate = read_audio(path)
    assert got_rate == rate and abs(len(samples) - rate) <= 0.05 * rate
    n = min(len(samples), rate)
    # Measured at lag 0 on this tone pair: MP3 0.9999, Vorbis 0.9989, Opus 0.9961 (its own delay compensation).
    assert np.corrcoef(samples[:n, 0], x[:n])[0, 1] > 0.99


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 32000, 44100, 48000, 88200, 96000, 192000])
def test_every_common_rate_is_resampled_to_the_front_end_rate_within_1e_5_of_the_ideal(tmp_path, rate):
    path = write_audio(tmp_path / f"r{rate}.wav", tones(rate, rate), rate, subtype="FLOAT")
    out = load_audio(path, 16000)
    assert out.dtype == np.float32 and out.shape == (16000,)
    # Measured: at most 2.4e-7 (float32 rounding) away from the first and last 50 ms, which see the clip's ends.
    assert np.abs(out - tones(16000, 16000))[800:-800].max() < 1e-5


def test_channels_are_mixed_to_their_mean_before_resampling(tmp_path):
    x = np.random.default_rng(3).uniform(-0.5, 0.5, (2000, 6)).astype(np.float32)
    out = load_audio(write_audio(tmp_path / "51.wav", x, 24000, subtype="FLOAT"), 24000)
    np.testing.assert_allclose(out, x.astype(np.float64).mean(axis=1), atol=1e-7)
    stereo = load_audio(write_audio(tmp_path / "st.flac", np.stack([tones(48000, 48000), -tones(48000, 48000)], 1) * 0.9,
                                    48000), 16000)
    assert np.abs(stereo).max() < 1e-4  # opposite channels cancel; 16-bit rounding is all that is left


def test_a_tone_above_the_new_nyquist_is_removed_not_aliased():
    t = np.arange(44100) / 44100
    for freq in (8100.0, 9000.0, 15000.0):
        y = resample(np.sin(2 * np.pi * freq * t), 44100, 16000)[500:-500]
        # Measured: -157 to -161 dB (soxr VHQ).
        assert 20 * np.log10(np.sqrt(2 * np.mean(y.astype(np.float64) ** 2))) < -120.0, freq


def test_the_passband_is_flat_to_0_89_of_the_new_nyquist():
    for freq in (1000.0, 6000.0, 7120.0):
        x = np.sin(2 * np.pi * freq * np.arange(96000) / 48000)
        y = resample(x, 48000, 16000)[2000:-2000].astype(np.float64)
        assert abs(20 * np.log10(np.sqrt(2 * np.mean(y ** 2)))) < 1e-3, freq  # measured within 1e-8 dB


def test_equal_rates_return_the_signal_unchanged_and_bad_input_is_refused():
    x = np.random.default_rng(5).standard_normal(1001)
    np.testing.assert_array_equal(resample(x, 16000, 16000), x.astype(np.float32))
    with pytest.raises(ValueError, match="1-D"):
        resample(np.zeros((10, 2)), 8000, 16000)


# ---------------------------------------------------------------- bad files: one line, at once, bounded memory

def assert_audio_error(path, fragment: str, call=read_audio):
    with pytest.raises(AudioFormatError) as info:
        call(path)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.path == str(path) and fragment in err.problem, err.problem
    assert str(err) == f"{path}: {err.problem}" and "\n" not in str(err)


MEASURE = r"""
import resource, sys, time
from edgeaudio.audio import AudioFormatError, load_audio
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    load_audio(sys.argv[1], 16000)
    outcome = "read"
except AudioFormatError as exc:
    outcome = exc.problem
print(time.perf_counter() - start, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024, outcome)
"""


@pytest.mark.parametrize("rate", [4_000_000_000, 2_000_000_000, 1, 100])
def test_a_small_wav_with_an_absurd_sample_rate_is_refused_in_under_a_second_in_bounded_memory(tmp_path, rate):
    import subprocess
    import sys

    # 1.6 KB of 16-bit samples, as the WAVs measured costing 3.2 GB (4 GHz) and 3.7 s (1 Hz) before.
    payload, _ = encode(random_codes(np.random.default_rng(8), 800, 1, PCM, 16), PCM, 16)
    path = tmp_path / "liar.wav"
    path.write_bytes(riff(chunk(b"fmt ", struct.pack("<HHIIHH", PCM, 1, rate, (2 * rate) & 0xFFFFFFFF, 2, 16)),
                          chunk(b"data", payload)))
    seconds, grown_mb, outcome = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True,
                                                text=True, check=True).stdout.split(" ", 2)
    assert float(seconds) < 1.0 and float(grown_mb) < 50, (seconds, grown_mb)
    assert "sample rate" in outcome or "header" in outcome, outcome
    assert_audio_error(path, "", call=lambda p: load_audio(p, 16000))


def test_a_data_chunk_declaring_more_than_the_file_holds_reads_what_is_there(tmp_path):
    payload, expected = encode(random_codes(np.random.default_rng(9), 500, 1, PCM, 16), PCM, 16)
    path = tmp_path / "cut.wav"
    path.write_bytes(riff(chunk(b"fmt ", fmt_body(PCM, 1, 16000, 16)), chunk(b"data", payload, declared=2 ** 31)))
    samples, _ = read_audio(path)
    np.testing.assert_array_equal(samples[:, 0], expected[:, 0].astype(np.float32))


def test_audio_format_error_message_is_path_colon_problem():
    err = AudioFormatError(Path("/tmp/a.wav"), "silent: every sample is exactly zero")
    assert str(err) == "/tmp/a.wav: silent: every sample is exactly zero"
    assert err.path == "/tmp/a.wav" and err.problem == "silent: every sample is exactly zero"


@pytest.mark.parametrize("content", [b"hello, this is not audio", b"", b"RIFF\x10\x00\x00\x00WAVEjunk"])
def test_a_file_that_is_not_audio_is_named_with_the_reason(tmp_path, content):
    path = tmp_path / "notes.wav"
    path.write_bytes(content)
    assert_audio_error(path, "not audio that can be decoded")


def test_a_damaged_mp3_is_named_as_undecodable_without_the_decoders_notes_on_stderr(tmp_path, capfd):
    path = tmp_path / "broken.mp3"
    path.write_text("garbage\n")
    assert_audio_error(path, "its contents are in no format libsndfile reads")
    assert capfd.readouterr().err == ""  # mpg123 printed "Illegal Audio-MPEG-Header" notes here before


def test_nan_in_a_float_file_is_corrupt(tmp_path):
    payload = np.array([0.1, np.nan, 0.2], dtype="<f4").tobytes()
    assert_audio_error(wav_file(tmp_path / "nan.wav", payload, FLOAT, 1, 8000, 32), "NaN or infinity")


def test_a_missing_file_or_a_folder_is_an_audio_error_naming_it(tmp_path):
    assert_audio_error(tmp_path / "absent.flac", "no such file")
    assert_audio_error(tmp_path, "is a folder")


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


# ---------------------------------------------------------------- which files a list of paths names

def test_folders_are_walked_recursively_in_a_stable_order_skipping_hidden_and_other_files(tmp_path):
    for name in ["b/2.flac", "b/1.WAV", "a.mp3", "b/c/3.ogg", "notes.txt", "._a.wav", ".cache/x.wav"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = [p.relative_to(tmp_path).as_posix() for p in audio_files([tmp_path])]
    assert found == ["a.mp3", "b/1.WAV", "b/2.flac", "b/c/3.ogg"]
    assert audio_files([tmp_path / "notes.txt", tmp_path / "b"])[0].name == "notes.txt"  # a named file is kept


def test_a_folder_without_audio_is_one_error_naming_it(tmp_path):
    from edgeaudio.errors import InputError

    (tmp_path / "readme.txt").write_text("no audio here")
    with pytest.raises(InputError, match="holds no audio files"):
        audio_files([tmp_path])


def test_calibration_on_a_folder_skips_silent_and_unreadable_files_and_counts_them(tmp_path):
    from edgeaudio.frontend import official_frontend
    from edgeaudio.pipeline.data import FrontendChoice, model_inputs

    frontend = official_frontend(16000, 20, 10, 0.479, 48, n_mels=32)
    rng = np.random.default_rng(10)
    for i in range(24):
        write_audio(tmp_path / f"clip{i:02d}.flac", 0.3 * rng.standard_normal(7664), 16000)
    write_audio(tmp_path / "quiet.wav", np.zeros(7664), 16000)
    (tmp_path / "broken.mp3").write_bytes(b"ID3" + bytes(50))
    data = model_inputs(tmp_path, frontend.model_input_shape, FrontendChoice(frontend, "--frontend"))
    assert len(data.calibration) + len(data.held_out) == 24
    assert sorted(s.split(":")[0] for s in data.skipped) == ["broken.mp3", "quiet.wav"]
    assert data.skipped_warning().startswith(f"{tmp_path}: 2 audio file(s) left out of calibration (")
    assert data.describe()["skipped_files"] == data.skipped


def test_the_clip_progress_bar_shows_on_a_terminal_only(monkeypatch):
    import sys

    from edgeaudio.cli import progress_bar as _progress_bar

    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    with _progress_bar(100) as bar:
        assert bar is None  # piped or redirected: no bar at all
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    with _progress_bar(100) as bar:
        assert bar is not None and bar.length == 100
    with _progress_bar(1) as bar:
        assert bar is None  # one clip needs no bar
