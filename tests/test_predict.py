"""Audio in, labels out: clips through the manifest's front end into exported models, on the runtime side."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from edgeaudio.audio import load_audio, write_audio, write_wav
from edgeaudio.checkpoint import load_checkpoint, save_official
from edgeaudio.cli import main
from edgeaudio.datasets.events import CLASSES
from edgeaudio.frontend import FrontendConfig, official_frontend
from edgeaudio.pipeline.data import choose_frontend
from edgeaudio.pipeline.predict import Predictor, predict_clips


def test_int8_predictions_agree_with_pytorch_on_most_held_apart_clips(exported, trained):
    model = exported[0] / "int8" / "events_int8.tflite"
    clips = sorted(trained.audio_dir.glob("*.wav"))
    predictions = predict_clips(model, clips, top_k=3)
    assert all(p.top[0].label in CLASSES and len(p.top) == 3 for p in predictions)
    reference = load_checkpoint(trained.checkpoint).model
    predictor = Predictor(model)
    x = np.concatenate([predictor.inputs_for(c)[0] for c in clips])
    with torch.no_grad():
        torch_labels = reference(torch.from_numpy(x)).argmax(1).numpy()
    agreement = np.mean([p.top[0].index == t for p, t in zip(predictions, torch_labels)])
    truth = np.mean([p.top[0].label == c.name.rsplit("_", 1)[0] for p, c in zip(predictions, clips)])
    assert agreement >= 0.95, agreement
    assert truth >= 0.7, truth  # the small model is right on most clips of a fresh draw


def test_a_long_clip_is_labelled_per_window_and_as_a_whole(exported, trained, tmp_path):
    parts = [load_audio(p, 16000) for p in sorted(trained.audio_dir.glob("*.wav"))[:3]]
    write_wav(tmp_path / "long.wav", np.concatenate(parts), 16000)
    (prediction,) = predict_clips(exported[0] / "int8" / "events_int8.tflite", [tmp_path / "long.wav"])
    assert len(prediction.windows) == 3 and prediction.windows[0][0] == 0.0
    assert prediction.seconds == pytest.approx(2.85, abs=0.01)


def test_predict_cli_prints_labels_and_writes_json(exported, trained, tmp_path, capsys):
    clip = sorted(trained.audio_dir.glob("*.wav"))[0]
    code = main(["predict", str(exported[0] / "fp16" / "events_fp16.tflite"), str(clip), "--top-k", "2", "--json", str(tmp_path / "p.json")])
    assert code == 0
    out = capsys.readouterr().out
    assert clip.name in out
    data = json.loads((tmp_path / "p.json").read_text())
    assert len(data["clips"][0]["top"]) == 2 and data["clips"][0]["top"][0]["label"] in CLASSES


def test_one_unreadable_clip_is_a_one_line_error_and_a_silent_one_is_predicted_and_flagged(exported, tmp_path, capsys):
    model = str(exported[0] / "int8" / "events_int8.tflite")
    (tmp_path / "bad.wav").write_text("hello")
    assert main(["predict", model, str(tmp_path / "bad.wav")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "bad.wav" in err and "not audio that can be decoded" in err
    write_wav(tmp_path / "quiet.wav", np.zeros(16000), 16000)
    assert main(["predict", model, str(tmp_path / "quiet.wav")]) == 0
    assert "silent" in capsys.readouterr().out


def _batch(trained, folder):
    """Three good clips as FLAC, OGG and a 48 kHz WAV, a silent one, a text file and a truncated FLAC, in a tree."""
    import soundfile

    good = sorted(trained.audio_dir.glob("*.wav"))[:3]
    (folder / "sub").mkdir(parents=True)
    waves = [load_audio(p, 16000) for p in good]
    write_audio(folder / "a.flac", waves[0], 16000)
    write_audio(folder / "b_silent.wav", np.zeros(16000), 16000)
    (folder / "c_text.wav").write_text("not audio")
    write_audio(folder / "sub" / "d.ogg", waves[1], 16000)
    soundfile.write(str(folder / "sub" / "e48k.wav"), load_audio(good[2], 48000), 48000, subtype="PCM_24")
    flac = (folder / "a.flac").read_bytes()
    (folder / "sub" / "f_cut.flac").write_bytes(flac[:40])
    return good


def test_a_batch_with_broken_and_silent_clips_reports_every_clip_keeps_every_result_and_exits_1(exported, trained, tmp_path, capsys):
    model = exported[0] / "int8" / "events_int8.tflite"
    good = _batch(trained, tmp_path / "clips")
    out = tmp_path / "out"
    code = main(["predict", str(model), str(tmp_path / "clips"), "--json", str(out / "p.jsonl"), "--csv", str(out / "p.csv"),
                 "--top-k", "2"])
    assert code == 1
    table = capsys.readouterr().out
    lines = [json.loads(line) for line in (out / "p.jsonl").read_text().splitlines()]
    names = [Path(r["file"]).name for r in lines]
    assert names == ["a.flac", "b_silent.wav", "c_text.wav", "d.ogg", "e48k.wav", "f_cut.flac"]  # path order
    status = {n: r["status"] for n, r in zip(names, lines)}
    assert status == {"a.flac": "ok", "b_silent.wav": "silent", "c_text.wav": "error", "d.ogg": "ok", "e48k.wav": "ok",
                      "f_cut.flac": "error"}
    assert "every sample is exactly zero" in lines[1]["silent"] and "not audio" in lines[2]["error"]
    assert "2 could not be read (exit status 1)" in table and "1 silent" in table
    # The FLAC, OGG and 48 kHz copies of a clip get the label its 16 kHz WAV gets.
    single = {p.name: predict_clips(model, [p], top_k=1)[0].top[0].label for p in good}
    by_name = {n: r for n, r in zip(names, lines)}
    assert by_name["a.flac"]["top"][0]["label"] == single[good[0].name]
    assert by_name["d.ogg"]["top"][0]["label"] == single[good[1].name]
    assert by_name["e48k.wav"]["top"][0]["label"] == single[good[2].name]
    rows = (out / "p.csv").read_text().splitlines()
    assert rows[0].startswith("file,status,seconds,label,score") and len(rows) == 7
    assert not list(out.glob(".*partial"))


def test_an_interrupted_batch_keeps_the_clips_it_finished(exported, trained, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    model = exported[0] / "int8" / "events_int8.tflite"
    clips = sorted(trained.audio_dir.glob("*.wav")) * 40
    args = [sys.executable, "-c", "from edgeaudio.cli import main; raise SystemExit(main())", "predict", str(model),
            *map(str, clips), "--json", str(tmp_path / "p.jsonl"), "--csv", str(tmp_path / "p.csv")]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    partial = tmp_path / ".p.jsonl.partial"
    deadline = time.time() + 120
    while time.time() < deadline and (not partial.exists() or len(partial.read_text().splitlines()) < 5):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    lines = (tmp_path / "p.jsonl").read_text().splitlines()
    assert 5 <= len(lines) < len(clips) and all(json.loads(line)["status"] == "ok" for line in lines)
    assert len((tmp_path / "p.csv").read_text().splitlines()) == len(lines) + 1
    assert not partial.exists()


def test_a_json_document_is_written_whole_with_a_summary(exported, trained, tmp_path):
    clips = sorted(trained.audio_dir.glob("*.wav"))[:2]
    (tmp_path / "bad.mp3").write_bytes(b"\xff\xfb" + bytes(100))
    code = main(["predict", str(exported[0] / "int8" / "events_fp32.tflite"), *map(str, clips), str(tmp_path / "bad.mp3"),
                 "--json", str(tmp_path / "p.json")])
    data = json.loads((tmp_path / "p.json").read_text())
    assert code == 1 and data["complete"] is True
    assert data["summary"]["clips"] == 3 and data["summary"]["failed"] == 1
    assert [c["status"] for c in data["clips"]] == ["ok", "ok", "error"]


def test_a_model_without_a_front_end_in_its_manifest_cannot_predict(exported, trained, tmp_path, capsys):
    folder = exported[0] / "int8"
    for name in ("events_int8.tflite", "events.expected.npz"):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    manifest = json.loads((folder / "events_int8.tflite.manifest.json").read_text())
    manifest["frontend"] = None
    (tmp_path / "events_int8.tflite.manifest.json").write_text(json.dumps(manifest))
    clip = sorted(trained.audio_dir.glob("*.wav"))[0]
    assert main(["predict", str(tmp_path / "events_int8.tflite"), str(clip)]) == 2
    assert "no front end" in capsys.readouterr().err


def test_the_official_cfg_audio_settings_give_the_front_end(tmp_path):
    from edgeaudio.models import get_spec

    frontend = official_frontend(16000, 25, 10, 0.951, 96, n_mels=64)
    spec = get_spec("audiorepinceptionnext")
    model = spec.build(spec.config(num_classes=(3,), frames=96, mels=64, width=4, depths=(1, 1, 1, 1))).eval()
    loaded = load_checkpoint(save_official(model, tmp_path / "c.pyth", frontend=frontend))
    assert choose_frontend(None, loaded.meta, loaded.cfg, (1, 96, 64)).config == frontend
    vgg = choose_frontend(None, {}, {"AUDIO_DATA": {"SAMPLING_RATE": 16000, "WINDOW_LENGTH": 20, "HOP_LENGTH": 10}}, (1, 512, 128)).config
    assert isinstance(vgg, FrontendConfig) and vgg.clip_seconds == 5.119  # the VGG-Sound preset


def test_export_refuses_a_labels_file_of_the_wrong_length(trained, tmp_path, capsys):
    (tmp_path / "labels.txt").write_text("a\nb\n")
    assert main(["export", str(trained.checkpoint), "--labels", str(tmp_path / "labels.txt"), "-o", str(tmp_path / "o")]) == 2
    assert "2 labels given for a model with 8 classes" in capsys.readouterr().err
