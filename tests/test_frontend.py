"""The numpy front end reproduces the official features (librosa for AudioRepInceptionNeXt, tf.signal for YAMNet)
and cuts clips into model windows the way the official loaders do."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from edgeaudio.frontend import (
    PRESETS,
    FrontendConfig,
    clip_to_model_inputs,
    get_preset,
    logmel,
    mel_filterbank,
    pad_like_yamnet,
    window_starts,
    windows,
)

PARITY_ATOL = 1e-4

# The official training configs' audio settings, written out independently of presets.py: sr, window ms, hop ms,
# clip s, frames.
OFFICIAL_TABLE = {
    "vggsound": (16000, 20, 10, 5.119, 512),
    "epic-sounds": (24000, 10, 5, 2.08, 416),
    "epic-kitchens": (24000, 10, 5, 2.08, 416),
    "speechcommands": (16000, 5, 2, 1.023, 512),
    "nsynth": (16000, 20, 10, 4.16, 416),
    "urbansound8k": (16000, 20, 10, 4.16, 416),
}


# ---------------------------------------------------------------- test signals

def _chirp(sr: int, seconds: float, f0: float, f1: float) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    k = f1 / f0
    return np.sin(2 * np.pi * f0 * seconds / np.log(k) * (k ** (t / seconds) - 1.0))


def make_signals(sr: int, seconds: float = 1.5, seed: int = 0) -> dict[str, np.ndarray]:
    """Real-looking test audio: a sweep, tones in noise, a clip with silent gaps, a clipped loud tone."""
    rng = np.random.default_rng(seed)
    n = int(sr * seconds)
    t = np.arange(n) / sr
    tones = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 1000 * t + 1.0) \
        + 0.1 * np.sin(2 * np.pi * 3300 * t + 2.0)
    tones_noise = tones + 0.02 * rng.standard_normal(n)
    gaps = tones_noise.copy()
    for a, b in ((0.0, 0.3), (0.8, 1.1), (seconds - 0.2, seconds)):
        gaps[int(a * sr):int(b * sr)] = 0.0
    loud = 2.5 * np.sin(2 * np.pi * 440 * t) + 0.8 * np.sin(2 * np.pi * 1320 * t)
    return {
        "chirp": 0.6 * _chirp(sr, seconds, 40.0, 0.45 * sr),
        "tones_noise": tones_noise,
        "silence_gaps": gaps,
        "clipped": np.clip(loud, -1.0, 1.0),
        "whisper": 1e-4 * rng.standard_normal(n),
    }


# ---------------------------------------------------------------- references

def librosa_official_logmel(x: np.ndarray, sr: int, window_ms: float, hop_ms: float) -> np.ndarray:
    """The official _log_specgram, parameters from OFFICIAL_TABLE (float64 in, as librosa keeps it)."""
    librosa = pytest.importorskip("librosa")
    win = int(round(window_ms * sr / 1e3))
    hop = int(round(hop_ms * sr / 1e3))
    spec = librosa.stft(x, n_fft=2048, window="hann", hop_length=hop, win_length=win, pad_mode="constant")
    basis = librosa.filters.mel(sr=sr, n_fft=2048, n_mels=128, htk=True, norm=None)
    return np.log(basis @ np.abs(spec) + 1e-6).T


@pytest.fixture(scope="module")
def tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return pytest.importorskip("tensorflow")


def tf_yamnet_logmel(tf, x: np.ndarray, dtype) -> np.ndarray:
    """YAMNet's features.py spectrogram: tf.signal.stft (no end padding) + TF mel matrix + log(+0.001)."""
    stft = tf.signal.stft(tf.constant(x, dtype=dtype), frame_length=400, frame_step=160, fft_length=512)
    weights = tf.signal.linear_to_mel_weight_matrix(num_mel_bins=64, num_spectrogram_bins=257, sample_rate=16000,
                                                    lower_edge_hertz=125.0, upper_edge_hertz=7500.0, dtype=dtype)
    return tf.math.log(tf.matmul(tf.abs(stft), weights) + 0.001).numpy()


def tf_yamnet_patches(tf, x: np.ndarray) -> np.ndarray:
    """YAMNet's pad_waveform (zeros up to 0.975 s + whole 0.48 s hops), then 96-frame patches every 48."""
    min_samples = 15600
    hop = 7680
    n = max(x.size, min_samples)
    padded_len = min_samples + int(np.ceil((n - min_samples) / hop)) * hop
    spec = tf_yamnet_logmel(tf, np.pad(x, (0, padded_len - x.size)), tf.float64)
    return tf.signal.frame(spec, frame_length=96, frame_step=48, axis=-2).numpy()


# ---------------------------------------------------------------- presets and config

def test_presets_cover_every_dataset_and_yamnet():
    assert set(PRESETS) == set(OFFICIAL_TABLE) | {"yamnet"}


@pytest.mark.parametrize("name", sorted(OFFICIAL_TABLE))
def test_official_presets_follow_the_models_table(name):
    sr, window_ms, hop_ms, clip_s, frames = OFFICIAL_TABLE[name]
    c = PRESETS[name]
    assert (c.kind, c.sample_rate, c.n_fft, c.n_mels, c.mel_scale) == ("official_logmel", sr, 2048, 128, "htk")
    assert (c.win_length, c.hop_length) == (round(window_ms * sr / 1000), round(hop_ms * sr / 1000))
    assert (c.fmin, c.fmax, c.log_offset, c.center, c.pad_mode) == (0.0, sr / 2, 1e-6, True, "constant")
    assert (c.clip_seconds, c.frames) == (clip_s, frames)
    # The official slice of clip_size - 1 samples gives exactly `frames` centred frames.
    assert c.num_frames(int(round(sr * clip_s)) - 1) == frames


def test_yamnet_preset_matches_yamnet_params():
    c = PRESETS["yamnet"]
    assert (c.sample_rate, c.win_length, c.hop_length, c.n_fft) == (16000, 400, 160, 512)
    assert (c.n_mels, c.fmin, c.fmax, c.log_offset, c.mel_scale) == (64, 125.0, 7500.0, 0.001, "tf")
    assert (c.center, c.frames, c.window_hop_frames, c.clip_samples) == (False, 96, 48, 15600)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_config_round_trips_through_json(name):
    config = PRESETS[name]
    text = json.dumps(config.to_dict())
    assert FrontendConfig.from_dict(json.loads(text)) == config


def test_from_dict_accepts_integers_for_float_fields():
    d = PRESETS["vggsound"].to_dict() | {"fmin": 0, "fmax": 8000}
    assert FrontendConfig.from_dict(d) == PRESETS["vggsound"]


@pytest.mark.parametrize("change, message", [
    ({"kind": "mfcc"}, "kind must be one of"),
    ({"mel_scale": "slaney"}, "mel_scale must be one of"),
    ({"n_fft": "2048"}, "n_fft must be an integer"),
    ({"n_fft": 2048.0}, "n_fft must be an integer"),
    ({"hop_length": True}, "hop_length must be an integer"),
    ({"center": 1}, "center must be true or false"),
    ({"hop_length": 0}, "hop_length must be a positive integer"),
    ({"win_length": 4096}, "win_length (4096) must not exceed n_fft (2048)"),
    ({"fmax": 9000.0}, "must not exceed the Nyquist frequency"),
    ({"fmin": 8000.0}, "need 0 <= fmin < fmax"),
    ({"log_offset": 0.0}, "log_offset must be > 0"),
    ({"fmin": float("nan")}, "fmin must be a finite number"),
    ({"frames": 500, "window_hop_frames": 500},
     "gives 81903 samples and 512 STFT frames at hop 160, but frames=500"),
    ({"window_hop_frames": 600}, "window_hop_frames (600) must not exceed frames (512)"),
    ({"clip_pad": "yamnet_zeros"}, "clip_pad 'yamnet_zeros' goes with the YAMNet kinds"),
    ({"clip_pad": "mirror"}, "clip_pad must be one of"),
    ({"colour": "blue"}, "unknown frontend config field(s) ['colour']"),
])
def test_from_dict_rejects_a_bad_config_naming_the_field(change, message):
    d = PRESETS["vggsound"].to_dict() | change
    with pytest.raises(ValueError) as info:
        FrontendConfig.from_dict(d)
    assert message in str(info.value)


def test_from_dict_rejects_missing_fields_and_non_objects():
    d = PRESETS["yamnet"].to_dict()
    del d["hop_length"]
    with pytest.raises(ValueError, match=r"missing field\(s\) \['hop_length'\]"):
        FrontendConfig.from_dict(d)
    with pytest.raises(ValueError, match="must be a JSON object, got list"):
        FrontendConfig.from_dict([1, 2])


def test_constructing_an_inconsistent_config_raises_value_error():
    with pytest.raises(ValueError, match="n_mels must be a positive integer"):
        FrontendConfig(**(PRESETS["nsynth"].to_dict() | {"n_mels": 0}))


def test_unknown_preset_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown frontend preset 'audioset'; known presets: .*vggsound"):
        get_preset("audioset")
    assert get_preset("yamnet") is PRESETS["yamnet"]


# ---------------------------------------------------------------- filterbanks

@pytest.mark.parametrize("name", ["vggsound", "epic-sounds"])
def test_htk_filterbank_equals_librosa_mel_htk_without_norm(name):
    librosa = pytest.importorskip("librosa")
    c = PRESETS[name]
    ref = librosa.filters.mel(sr=c.sample_rate, n_fft=2048, n_mels=128, htk=True, norm=None, dtype=np.float64)
    assert mel_filterbank(c).shape == (1025, 128)
    np.testing.assert_allclose(mel_filterbank(c).T, ref, atol=1e-12)


def test_tf_filterbank_equals_linear_to_mel_weight_matrix_with_dc_bin_zero(tf):
    ref = tf.signal.linear_to_mel_weight_matrix(64, 257, 16000, 125.0, 7500.0, dtype=tf.float64).numpy()
    ours = mel_filterbank(PRESETS["yamnet"])
    np.testing.assert_allclose(ours, ref, atol=1e-12)
    assert not ours[0].any()


# ---------------------------------------------------------------- log-mel parity

@pytest.mark.parametrize("name", sorted(OFFICIAL_TABLE))
def test_official_logmel_matches_librosa_within_1e_4(name):
    sr, window_ms, hop_ms, _, _ = OFFICIAL_TABLE[name]
    for label, x in make_signals(sr).items():
        ours = logmel(x, PRESETS[name])
        ref = librosa_official_logmel(x, sr, window_ms, hop_ms)
        assert ours.dtype == np.float32 and ours.shape == ref.shape, label
        assert np.abs(ours - ref).max() < PARITY_ATOL, label


@pytest.mark.parametrize("level_db", [0, -60, -80])
def test_official_logmel_stays_within_1e_4_of_librosa_on_quiet_bins_and_quiet_audio(level_db):
    # The front end rounds to float32 after its float64 FFT. Bins far from a pure tone hold only its Hann
    # sidelobes, ~1e-7 of the peak yet well above the 1e-6 offset at full scale: a float32 FFT (rounding
    # relative to the frame) misses them by up to ~0.26 in log-mel; rounding each bin to itself must not.
    sr, window_ms, hop_ms, _, _ = OFFICIAL_TABLE["vggsound"]
    n = int(sr * 1.5)
    t = np.arange(n) / sr
    rng = np.random.default_rng(6)
    signals = dict(make_signals(sr))
    signals["sine 100 Hz"] = np.sin(2 * np.pi * 100 * t)
    signals["sine 60 Hz plus dc"] = 0.9 * np.sin(2 * np.pi * 60 * t) + 0.05
    signals["loud tone then silence"] = np.where(t < 0.7, np.sin(2 * np.pi * 440 * t), 0.0)
    signals["brown noise"] = np.cumsum(rng.standard_normal(n)) * 0.01
    gain = 10 ** (level_db / 20)
    for label, x in signals.items():
        x = x * (gain / np.abs(x).max())
        ours = logmel(x, PRESETS["vggsound"])
        ref = librosa_official_logmel(x, sr, window_ms, hop_ms)
        assert np.abs(ours - ref).max() < PARITY_ATOL, (label, level_db)


def test_official_logmel_of_samples_beyond_float32_range_stays_exact():
    # Mel sums that float32 cannot hold (samples ~1e37) go through float64 from end to end.
    from edgeaudio.frontend import stft_magnitude

    c = PRESETS["vggsound"]
    x = make_signals(16000)["tones_noise"] * 1e37
    ref = np.log(stft_magnitude(x, c) @ mel_filterbank(c) + c.log_offset)
    ours = logmel(x, c)
    assert np.all(np.isfinite(ours)) and np.abs(ours - ref).max() < PARITY_ATOL


def test_official_logmel_of_float32_input_equals_float64_input():
    x = make_signals(16000)["chirp"]
    np.testing.assert_array_equal(logmel(x.astype(np.float32), PRESETS["vggsound"]),
                                  logmel(x.astype(np.float32).astype(np.float64), PRESETS["vggsound"]))


def test_digital_silence_gives_log_of_the_offset():
    c = PRESETS["speechcommands"]
    out = logmel(np.zeros(4000), c)
    assert out.shape == (1 + 4000 // 32, 128)
    np.testing.assert_allclose(out, np.log(1e-6), rtol=0, atol=1e-6)


def test_yamnet_logmel_matches_tf_signal_within_1e_4(tf):
    for label, x in make_signals(16000, seconds=2.0).items():
        ours = logmel(x, PRESETS["yamnet"])
        ref = tf_yamnet_logmel(tf, x, tf.float64)
        assert ours.shape == ref.shape == (1 + (x.size - 400) // 160, 64), label
        assert np.abs(ours - ref).max() < PARITY_ATOL, label


def test_yamnet_logmel_differs_from_tf_float32_only_by_tf_float32_rounding(tf):
    # YAMNet runs in float32, whose STFT rounding moves quiet bins by up to ~5e-3 in log-mel on a sweep;
    # our float64 features are never further from that run than the exact (float64) TF result is.
    for label, x in make_signals(16000, seconds=2.0).items():
        tf32 = tf_yamnet_logmel(tf, x.astype(np.float32), tf.float32)
        gap = np.abs(tf_yamnet_logmel(tf, x, tf.float64) - tf32).max()
        assert np.abs(logmel(x, PRESETS["yamnet"]) - tf32).max() <= gap + 1e-5, label


def test_yamnet_logmel_of_less_than_one_window_has_no_frames():
    assert logmel(np.ones(399), PRESETS["yamnet"]).shape == (0, 64)


def test_logmel_rejects_multichannel_and_non_finite_input():
    with pytest.raises(ValueError, match="must be 1-D"):
        logmel(np.zeros((100, 2)), PRESETS["yamnet"])
    with pytest.raises(ValueError, match="NaN or infinite"):
        logmel(np.array([0.0, np.nan] * 500), PRESETS["yamnet"])


# ---------------------------------------------------------------- model windows (official)

def test_short_clip_gives_one_window_with_the_last_frame_repeated():
    c = PRESETS["vggsound"]
    x = make_signals(16000, seconds=1.0)["chirp"]
    out = clip_to_model_inputs(x, c)
    feats = logmel(x, c)
    assert out.shape == (1, 1, 512, 128) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0, 0, :feats.shape[0]], feats)
    np.testing.assert_array_equal(out[0, 0, feats.shape[0]:], np.broadcast_to(feats[-1], (512 - 101, 128)))


def test_short_clip_matches_the_official_edge_padded_spectrogram():
    x = make_signals(24000, seconds=1.0, seed=3)["silence_gaps"]
    ref = librosa_official_logmel(x, 24000, 10, 5)
    ref = np.pad(ref, ((0, 416 - ref.shape[0]), (0, 0)), mode="edge")
    assert np.abs(clip_to_model_inputs(x, PRESETS["epic-sounds"])[0, 0] - ref).max() < PARITY_ATOL


def test_urbansound8k_short_clip_repeats_the_last_sample_like_the_official_loader():
    librosa = pytest.importorskip("librosa")
    x = make_signals(16000, seconds=2.0)["tones_noise"]
    padded = librosa.util.fix_length(x, size=66560 - 1, mode="edge")
    ref = librosa_official_logmel(padded, 16000, 20, 10)
    out = clip_to_model_inputs(x, PRESETS["urbansound8k"])
    assert out.shape == (1, 1, 416, 128)
    assert np.abs(out[0, 0] - ref).max() < PARITY_ATOL


def test_clip_of_exactly_clip_size_is_one_window_of_its_first_clip_size_minus_one_samples():
    c = PRESETS["speechcommands"]
    x = np.random.default_rng(1).standard_normal(c.clip_samples) * 0.1
    out = clip_to_model_inputs(x, c)
    assert out.shape == (1, 1, 512, 128)
    np.testing.assert_array_equal(out[0, 0], logmel(x[:c.clip_samples - 1], c))


def test_long_clip_gives_consecutive_windows_plus_one_aligned_to_the_end():
    c = PRESETS["vggsound"]
    x = np.random.default_rng(2).standard_normal(12 * 16000) * 0.1
    delta = x.size - c.clip_samples
    assert window_starts(x.size, c) == [0, 512 * 160, delta]
    out = clip_to_model_inputs(x, c)
    assert out.shape == (3, 1, 512, 128)
    for k, start in enumerate([0, 512 * 160, delta]):
        np.testing.assert_array_equal(out[k, 0], logmel(x[start:start + c.clip_samples - 1], c))


def test_long_clip_whose_windows_fit_exactly_gets_no_extra_window():
    c = PRESETS["nsynth"]
    step = 416 * 160
    n = 2 * step + c.clip_samples
    assert window_starts(n, c) == [0, step, 2 * step]


def test_views_reproduce_the_official_evenly_spaced_test_views():
    c = PRESETS["epic-sounds"]
    x = np.random.default_rng(3).standard_normal(5 * 24000) * 0.1
    delta = x.size - c.clip_samples
    starts = [int(s) for s in np.linspace(0, delta, 5)]
    assert window_starts(x.size, c, views=5) == starts
    out = clip_to_model_inputs(x, c, views=5)
    assert out.shape == (5, 1, 416, 128)
    sr, window_ms, hop_ms, _, _ = OFFICIAL_TABLE["epic-sounds"]
    ref = librosa_official_logmel(x[starts[3]:starts[3] + c.clip_samples - 1], sr, window_ms, hop_ms)
    assert np.abs(out[3, 0] - ref).max() < PARITY_ATOL


def test_views_of_a_short_clip_repeat_its_single_window():
    out = clip_to_model_inputs(np.ones(1000) * 0.1, PRESETS["vggsound"], views=2)
    assert out.shape == (2, 1, 512, 128)
    np.testing.assert_array_equal(out[0], out[1])


def test_empty_waveform_and_bad_views_are_rejected():
    with pytest.raises(ValueError, match="waveform is empty"):
        clip_to_model_inputs(np.zeros(0), PRESETS["vggsound"])
    with pytest.raises(ValueError, match="views must be a positive integer"):
        clip_to_model_inputs(np.ones(100), PRESETS["vggsound"], views=0)
    with pytest.raises(ValueError, match="views apply to official_logmel"):
        clip_to_model_inputs(np.ones(100), PRESETS["yamnet"], views=2)


def test_windows_of_features_edge_pad_short_and_end_align_long():
    c = PRESETS["nsynth"]
    short = np.arange(100 * 128, dtype=np.float32).reshape(100, 128)
    out = windows(short, c)
    assert out.shape == (1, 1, 416, 128)
    np.testing.assert_array_equal(out[0, 0, 99:], np.broadcast_to(short[-1], (317, 128)))
    long = np.random.default_rng(4).standard_normal((1000, 128)).astype(np.float32)
    out = windows(long, c)
    assert out.shape == (3, 1, 416, 128)
    np.testing.assert_array_equal(out[1, 0], long[416:832])
    np.testing.assert_array_equal(out[2, 0], long[1000 - 416:])


def test_windows_rejects_features_of_the_wrong_width():
    with pytest.raises(ValueError, match=r"shape \(T, 64\)"):
        windows(np.zeros((100, 128)), PRESETS["yamnet"])


# ---------------------------------------------------------------- model windows (YAMNet)

@pytest.mark.parametrize("seconds, patches", [(0.3, 1), (0.975, 1), (1.0, 2), (3.0, 6), (10.0, 20)])
def test_yamnet_patches_are_96_by_64_every_48_frames_after_yamnet_padding(seconds, patches):
    x = np.random.default_rng(5).standard_normal(int(16000 * seconds)) * 0.1
    out = clip_to_model_inputs(x, PRESETS["yamnet"])
    assert out.shape == (patches, 1, 96, 64) and out.dtype == np.float32


def test_yamnet_patches_match_tf_pad_waveform_and_frame(tf):
    x = make_signals(16000, seconds=3.3)["silence_gaps"]
    ref = tf_yamnet_patches(tf, x)
    out = clip_to_model_inputs(x, PRESETS["yamnet"])
    assert out.shape == (ref.shape[0], 1, 96, 64)
    assert np.abs(out[:, 0] - ref).max() < PARITY_ATOL


def test_yamnet_windows_of_padded_features_equal_clip_to_model_inputs():
    c = PRESETS["yamnet"]
    x = make_signals(16000, seconds=2.2)["chirp"]
    np.testing.assert_array_equal(windows(logmel(pad_like_yamnet(x, c), c), c), clip_to_model_inputs(x, c))


def test_yamnet_windows_fill_missing_frames_with_the_value_of_silence():
    out = windows(np.zeros((100, 64), dtype=np.float32), PRESETS["yamnet"])
    assert out.shape == (2, 1, 96, 64)
    np.testing.assert_allclose(out[1, 0, 52:], np.log(0.001), rtol=1e-6)
