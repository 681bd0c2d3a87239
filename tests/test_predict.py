"""Audio in, labels out: clips through the manifest's front end into exported models, on the runtime side."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edgeaudio.audio import load_audio, write_wav
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


@pytest.mark.parametrize("content, message", [("silence", "silent"), ("text", "not a WAV file")])
def test_bad_clips_are_one_line_errors(exported, tmp_path, capsys, content, message):
    path = tmp_path / "bad.wav"
    if content == "silence":
        write_wav(path, np.zeros(16000), 16000)
    else:
        path.write_text("hello")
    assert main(["predict", str(exported[0] / "int8" / "events_int8.tflite"), str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "bad.wav" in err and message in err


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
