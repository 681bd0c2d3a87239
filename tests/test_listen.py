"""Streaming audio on the device side (block decoding, the streaming resampler, the front end over a ring buffer),
`edgeaudio listen` on pipes, raw PCM and files, and `edgeaudio describe` for a model made elsewhere."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgeaudio.audio import load_audio, write_wav
from edgeaudio.cli import main
from edgeaudio.frontend import PRESETS, clip_to_model_inputs, logmel, waveform_frontend, windows, yamnet_waveform
from edgeaudio.frontend.stream import StreamingFrontend

EDGEAUDIO = str(Path(sys.executable).with_name("edgeaudio"))


def _streamed(config, x: np.ndarray, seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """Windows and start samples of `x` pushed in random-sized blocks."""
    rng = np.random.default_rng(seed)
    frontend, out, pos = StreamingFrontend(config), [], 0
    while pos < len(x):
        step = int(rng.integers(1, 7000))
        out += frontend.push(x[pos : pos + step])
        pos += step
    out += frontend.finish()
    return np.stack([w.input for w in out]), [w.start for w in out]


@pytest.mark.parametrize("config", [PRESETS["vggsound"], PRESETS["epic-sounds"], PRESETS["urbansound8k"], PRESETS["yamnet"],
                                    yamnet_waveform(2), waveform_frontend(8000, 3000, 1000)],
                         ids=["vggsound", "epic-sounds", "urbansound8k", "yamnet", "yamnet_waveform", "waveform"])
def test_streamed_windows_equal_the_whole_clip_windows_whatever_the_blocks(config):
    from edgeaudio.frontend import window_starts

    rng = np.random.default_rng(1)
    for samples in (config.clip_samples // 3, config.clip_samples, config.clip_samples + 1, int(3.7 * config.clip_samples)):
        x = (rng.standard_normal(samples) * 0.1).astype(np.float32)
        got, starts = _streamed(config, x)
        whole = clip_to_model_inputs(x, config)
        assert got.shape == whole.shape, samples
        assert np.abs(got - whole).max() <= 1e-6  # the same windows, to rounding (measured: at most 4.8e-7)
        if config.kind == "official_logmel":
            assert starts == window_starts(samples, config)[: len(starts)]
        else:
            assert starts == [i * config.window_hop_samples for i in range(len(whole))]


def test_official_windows_cut_from_the_long_spectrogram_differ_only_in_their_edge_frames():
    # Why the stream recomputes a window's first and last frame: cut from one long spectrogram they see the
    # neighbouring audio, where the official per-slice loader sees zero padding.
    config = PRESETS["vggsound"]
    x = (np.random.default_rng(2).standard_normal(3 * config.clip_samples) * 0.1).astype(np.float32)
    own = clip_to_model_inputs(x, config)[:2, 0]
    cut = windows(logmel(x, config), config)[:2, 0]
    difference = np.abs(own - cut).max(axis=2)  # per frame
    assert difference[:, 1:-1].max() <= 1e-6
    assert difference[1, 0] > 0.1 and difference[:, -1].min() > 1e-3  # measured: 2.1 first, 0.007-0.023 last


def test_each_stft_frame_is_computed_once_however_much_the_windows_overlap(monkeypatch):
    import edgeaudio.frontend.stream as stream

    config = PRESETS["vggsound"]
    computed = []
    real = stream.logmel_of_frames
    monkeypatch.setattr(stream, "logmel_of_frames", lambda frames, c, peak: computed.append(len(frames)) or real(frames, c, peak))
    x = (np.random.default_rng(3).standard_normal(20 * config.sample_rate) * 0.1).astype(np.float32)
    hop_frames = 50  # a 5.12 s window every 0.5 s: ten windows overlap each frame
    got, _ = _streamed(dataclasses.replace(config, window_hop_frames=hop_frames), x)
    total_frames = config.num_frames(len(x))
    assert len(got) == 31
    assert sum(computed) <= total_frames  # shared frames once each; the 2 edge frames per window go through logmel()


def test_the_streaming_resampler_joins_blocks_without_a_seam(tmp_path):
    from edgeaudio.audio.stream import file_blocks

    x = np.random.default_rng(4).standard_normal((44100 * 3, 2)).astype(np.float32) * 0.2
    import soundfile

    soundfile.write(str(tmp_path / "a.flac"), x, 44100, subtype="PCM_24")
    whole = load_audio(tmp_path / "a.flac", 16000)
    streamed = np.concatenate(list(file_blocks(tmp_path / "a.flac", 16000, block_frames=7919)))
    assert streamed.shape == whole.shape
    assert np.abs(streamed - whole).max() <= 1e-6  # measured: identical


def _sox(*args: str) -> None:
    subprocess.run(["sox", "-R", *args], check=True, capture_output=True)


def _peak_rss_mb(args: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    """`edgeaudio ARGS` in a child process: its own peak RSS (VmHWM, which exec resets; ru_maxrss would carry
    this test process's high-water mark into the child) and the finished process."""
    code = ("import sys\nfrom edgeaudio.cli import main\ncode = main(sys.argv[1:])\n"
            "print('VmHWM', [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1], file=sys.stderr)\n"
            "raise SystemExit(code)")
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stderr.rsplit("VmHWM", 1)[1].split()[0]) / 1024, proc


def test_predict_reads_a_long_recording_in_memory_that_does_not_grow_and_its_windows_match_cut_out_stretches(exported, trained, tmp_path):
    model = str(exported[0] / "int8" / "events_int8.tflite")
    clips = [str(p) for p in sorted(trained.audio_dir.glob("*.wav"))[:10]]
    _sox(*clips, "-r", "48000", "-c", "2", str(tmp_path / "events.flac"))  # 9.5 s of events, 48 kHz stereo
    _sox(str(tmp_path / "events.flac"), str(tmp_path / "short.flac"), "repeat", "1")
    _sox(str(tmp_path / "events.flac"), str(tmp_path / "long.flac"), "repeat", "24")  # 4 minutes
    short_rss, _ = _peak_rss_mb(["predict", model, str(tmp_path / "short.flac")])
    long_rss, _ = _peak_rss_mb(["predict", model, str(tmp_path / "long.flac"), "--json", str(tmp_path / "long.json")])
    # Whole, the 4-minute stereo file alone is 92 MB as float32 (and its mono and resampled copies more).
    assert long_rss - short_rss < 20, (short_rss, long_rss)
    windows = json.loads((tmp_path / "long.json").read_text())["clips"][0]["windows"]
    assert len(windows) == 248  # 237.5 s: 247 windows every 0.96 s and the last one aligned to the end
    for i in (37, 141, 247):  # a stretch cut out as its own clip has the labels of the window at that offset
        start = windows[i]["start_s"]
        _sox(str(tmp_path / "long.flac"), str(tmp_path / f"cut{i}.flac"), "trim", f"{start}", "0.951")
        (alone,) = json.loads(_json_of(["predict", model, str(tmp_path / f"cut{i}.flac")], tmp_path / f"cut{i}.json"))["clips"]
        assert alone["top"][0]["label"] == windows[i]["top"][0]["label"]


def _json_of(args: list[str], out: Path) -> str:
    assert main([*args, "--json", str(out)]) == 0
    return out.read_text()


def _window_records(path: Path) -> list[dict]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if "start_s" in r]


def test_listen_on_a_wav_stream_through_a_pipe_gives_the_windows_predict_gives(exported, trained, tmp_path):
    model = str(exported[0] / "int8" / "events_int8.tflite")
    clips = [str(p) for p in sorted(trained.audio_dir.glob("*.wav"))[:12]]
    _sox(*clips, "-r", "44100", "-c", "2", str(tmp_path / "clip.wav"))
    predicted = json.loads(_json_of(["predict", model, str(tmp_path / "clip.wav")], tmp_path / "p.json"))["clips"][0]["windows"]
    sox = subprocess.Popen(["sox", str(tmp_path / "clip.wav"), "-t", "wav", "-"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    proc = subprocess.run([EDGEAUDIO, "listen", model, "-", "--json", str(tmp_path / "w.jsonl")], stdin=sox.stdout,
                          capture_output=True, text=True, timeout=120)
    sox.stdout.close()
    sox.wait()
    assert proc.returncode == 0, proc.stderr
    heard = _window_records(tmp_path / "w.jsonl")
    assert [w["start_s"] for w in heard] == [w["start_s"] for w in predicted] and len(heard) == 12
    assert [w["top"][0]["label"] for w in heard] == [w["top"][0]["label"] for w in predicted]
    assert max(abs(a["top"][0]["score"] - b["top"][0]["score"]) for a, b in zip(heard, predicted)) <= 0.02
    assert all(w["compute_ms"] > 0 for w in heard)
    summary = json.loads((tmp_path / "w.jsonl").read_text().splitlines()[-1])["summary"]
    assert summary["windows"] == 12 and summary["dropped"] == 0 and summary["ended"] == "end of stream"
    assert summary["audio_seconds"] == pytest.approx(11.4, abs=0.01) and 0 < summary["real_time_factor"] < 1
    assert "real-time factor" in proc.stderr and len(proc.stdout.splitlines()) == 12


def test_listen_reads_raw_pcm_with_rate_channels_and_format(exported, trained, tmp_path):
    model = str(exported[0] / "int8" / "events_int8.tflite")
    clips = [str(p) for p in sorted(trained.audio_dir.glob("*.wav"))[:4]]
    _sox(*clips, str(tmp_path / "clip.wav"))
    predicted = json.loads(_json_of(["predict", model, str(tmp_path / "clip.wav")], tmp_path / "p.json"))["clips"][0]["windows"]
    for fmt, sox_format in (("s16", ["-e", "signed", "-b", "16"]), ("f32", ["-e", "floating-point", "-b", "32"])):
        pcm = subprocess.run(["sox", str(tmp_path / "clip.wav"), "-r", "22050", "-c", "2", "-t", "raw", *sox_format, "-"],
                             capture_output=True, check=True).stdout
        proc = subprocess.run([EDGEAUDIO, "listen", model, "-", "--raw", "--rate", "22050", "--channels", "2", "--format", fmt,
                               "--json", str(tmp_path / f"{fmt}.jsonl")], input=pcm, capture_output=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        heard = _window_records(tmp_path / f"{fmt}.jsonl")
        assert [w["start_s"] for w in heard] == [w["start_s"] for w in predicted]
        assert [w["top"][0]["label"] for w in heard] == [w["top"][0]["label"] for w in predicted]
    assert main(["listen", model, "-", "--raw"]) == 2  # --raw without --rate: one line, exit 2


def test_sigterm_to_an_endless_stream_leaves_whole_json_lines_and_a_summary(exported, tmp_path):
    model = str(exported[0] / "int8" / "events_int8.tflite")
    out = tmp_path / "e.jsonl"
    sox = subprocess.Popen(["sox", "-R", "-n", "-r", "16000", "-c", "1", "-t", "wav", "-", "synth", "3600", "pinknoise"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    listen = subprocess.Popen([EDGEAUDIO, "listen", model, "-", "--json", str(out), "--quiet"], stdin=sox.stdout,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sox.stdout.close()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 5):
            time.sleep(0.1)
        listen.send_signal(signal.SIGTERM)
        _, err = listen.communicate(timeout=30)
    finally:
        for p in (listen, sox):
            if p.poll() is None:
                p.kill()
                p.wait()
    assert listen.returncode == 0, err
    records = [json.loads(line) for line in out.read_text().splitlines()]  # every line whole
    summary = records[-1]["summary"]
    assert summary["ended"] == "stopped" and summary["windows"] == len(records) - 1 >= 5
    assert summary["audio_seconds"] > 4 and "stopped after" in err and "real-time factor" in err


def test_events_have_onsets_and_offsets_smoothed_with_hysteresis():
    from edgeaudio.pipeline.listen import EventTracker

    tracker = EventTracker(["dog", "cat"], threshold=0.6, hysteresis=0.2, smooth=2)
    dog = [0.1, 0.9, 0.9, 0.5, 0.5, 0.1, 0.1]  # smoothed: 0.1 0.5 0.9 0.7 0.5 0.3 0.1 (cat: 1 - dog)
    events = [e for i, p in enumerate(dog) for e in tracker.update(i * 0.5, np.array([p, 1 - p]))]
    events += tracker.close(3.5)
    summary = [(e.event, e.label, e.time_s) for e in events]
    # 0.5 holds an event on (0.5 > 0.6 - 0.2) but does not start one; the end of the audio closes what is on
    assert summary == [("onset", "cat", 0.0), ("offset", "cat", 1.0), ("onset", "dog", 1.0), ("offset", "dog", 2.5),
                       ("onset", "cat", 2.5), ("offset", "cat", 3.5)]
    assert events[3].to_dict()["duration_s"] == 1.5 and events[3].peak == pytest.approx(0.9)


def test_hop_sets_the_window_starts_and_a_paced_file_that_outruns_the_model_counts_its_drops(exported, trained, tmp_path):
    from edgeaudio.audio.stream import file_blocks
    from edgeaudio.pipeline.listen import ListenOptions, listen, with_window_hop
    from edgeaudio.pipeline.predict import Predictor

    clip = tmp_path / "clip.wav"
    write_wav(clip, np.concatenate([load_audio(p, 16000) for p in sorted(trained.audio_dir.glob("*.wav"))[:3]]), 16000)
    predictor = Predictor(exported[0] / "int8" / "events_int8.tflite")
    predictor.frontend = with_window_hop(predictor.frontend, 0.25)
    heard: list = []
    summary = listen(predictor, file_blocks(clip, 16000), ListenOptions(top_k=1), heard.append)
    assert [w.start_s for w in heard] == pytest.approx([0.25 * i for i in range(8)] + [2.85 - 0.951])
    assert summary.windows == 9 and summary.dropped == 0 and not summary.live
    notes: list = []
    paced = listen(predictor, file_blocks(clip, 16000, realtime=True), ListenOptions(top_k=1, max_lag=0.0), heard.append, notes.append)
    assert paced.live and paced.dropped > 0 and paced.windows + paced.dropped == 9
    assert "behind the audio" in notes[0]
    with pytest.raises(Exception, match="between one frame"):
        with_window_hop(predictor.frontend, 5.0)


def test_mic_without_sounddevice_is_a_one_line_error(exported, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # as on a device without the mic extra
    assert main(["listen", str(exported[0] / "int8" / "events_int8.tflite"), "mic"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pip install 'edgeaudio[mic]'" in err


@pytest.fixture(scope="module")
def keras_waveform_model(tmp_path_factory):
    """A waveform classifier (48 kHz, 3 s windows, 3 classes) built in Keras and converted by TensorFlow's own
    TFLite converter, not edgeaudio's exporter; and the Keras model for reference."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    samples = 48000 * 3
    inputs = tf.keras.Input(shape=(samples,), batch_size=1)
    x = tf.keras.layers.Reshape((samples, 1))(inputs)
    x = tf.keras.layers.Conv1D(4, 64, strides=32, activation="relu")(x)
    x = tf.keras.layers.Conv1D(8, 16, strides=8, activation="relu")(x)
    x = tf.keras.layers.GlobalAveragePooling1D()(x)
    # logits (describe --outputs softmax-logits), spread wide enough that the top class is clear
    outputs = tf.keras.layers.Dense(3, kernel_initializer=tf.keras.initializers.RandomNormal(stddev=30.0, seed=0))(x)
    keras = tf.keras.Model(inputs, outputs)
    path = tmp_path_factory.mktemp("keras") / "birds.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(keras).convert())
    return path, keras


def test_a_keras_waveform_model_once_described_runs_through_predict_eval_listen_and_bench(keras_waveform_model, tmp_path, capsys):
    source, keras = keras_waveform_model
    model = tmp_path / source.name
    model.write_bytes(source.read_bytes())
    (tmp_path / "labels.txt").write_text("owl\nwren\ncrow\n")
    assert main(["predict", str(model), str(tmp_path / "labels.txt")]) == 2  # no manifest yet: refused
    assert main(["describe", str(model), "--input", "logmel"]) == 2  # no preset: one line, nothing written
    assert main(["describe", str(model), "--input", "waveform", "--rate", "48000", "--window", "2"]) == 2
    assert not (tmp_path / "birds.tflite.manifest.json").exists()
    from tests.test_runtime_boundary import HEAVY, _run

    described = _run(f"""
        from edgeaudio.cli import main
        code = main(["describe", {str(model)!r}, "--input", "waveform", "--rate", "48000", "--hop", "1.5",
                     "--labels", {str(tmp_path / "labels.txt")!r}, "--outputs", "softmax-logits"])
        assert not [m for m in sys.modules if m.split(".")[0] in {HEAVY!r}]
        raise SystemExit(code)
        """)  # on a device: describe needs the interpreter only
    assert described.returncode == 0, described.stderr
    assert "[1, 144000]" in described.stdout
    rng = np.random.default_rng(5)
    data = tmp_path / "data"
    for i, label in enumerate(["owl", "wren", "crow"]):
        (data / label).mkdir(parents=True)
        for k in range(2):
            write_wav(data / label / f"{k}.wav", (rng.standard_normal(16000 * (4 + i) + 8000) * 0.1 * (k + 1)).astype(np.float32), 16000)
    clip = data / "crow" / "1.wav"  # 6.5 s at 16 kHz: windows at 0, 1.5, 3 s and the zero-padded one at 4.5 s
    (prediction,) = json.loads(_json_of(["predict", str(model), str(clip)], tmp_path / "p.json"))["clips"]
    assert [w["start_s"] for w in prediction["windows"]] == [0.0, 1.5, 3.0, 4.5]
    wave = load_audio(clip, 48000)
    padded = np.pad(wave, (0, 216000 + 144000 - len(wave)))  # zero-padded to the last window's end
    logits = np.concatenate([keras(padded[None, int(s * 48000) : int(s * 48000) + 144000]).numpy() for s in (0, 1.5, 3.0, 4.5)])
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    for window, p in zip(prediction["windows"], probs):
        assert window["top"][0]["label"] == ["owl", "wren", "crow"][int(p.argmax())]
        assert window["top"][0]["score"] == pytest.approx(float(p.max()), abs=1e-4)
    assert main(["eval", str(model), "--data", str(data), "--json", str(tmp_path / "eval.json")]) in (0, 1)
    assert json.loads((tmp_path / "eval.json").read_text())["scored"] == 6
    assert main(["listen", str(model), str(clip), "--json", str(tmp_path / "w.jsonl")]) == 0
    assert [w["start_s"] for w in _window_records(tmp_path / "w.jsonl")] == [0.0, 1.5, 3.0, 4.5]
    assert main(["bench", str(model), "--audio", str(clip), "--runs", "2", "--warmup", "0"]) == 0
    assert "real-time factor" in capsys.readouterr().out
