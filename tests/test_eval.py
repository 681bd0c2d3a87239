"""edgeaudio eval: accuracy on labelled audio, side by side, with intervals, a paired test and a gate.

The models are the shared trained event classifier (conftest) as a checkpoint and as exported files; the clips
are fresh synthetic events written folder-per-class (and as a CSV), with a broken file and a silent one among them.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from edgeaudio.cli import main


@pytest.fixture
def clips(labelled_clips) -> Path:
    return labelled_clips


@pytest.fixture(scope="module")
def quiet(trained, labelled_clips, tmp_path_factory):
    """int8 calibrated on clips 50 dB quieter than any the model will hear. Its parity gate cannot see the mistake
    (it judges on held-out samples of that same calibration set); accuracy on real clips can. Exported with --eval
    and --max-drop twice: as is (refused), and with --allow-mismatch (written, its manifest recording the failure)."""
    from edgeaudio.checkpoint import load_checkpoint
    from edgeaudio.datasets.events import make_events
    from edgeaudio.frontend import FrontendConfig, clip_to_model_inputs

    root = tmp_path_factory.mktemp("quiet")
    frontend = FrontendConfig.from_dict(load_checkpoint(trained.checkpoint).meta["frontend"])
    waves, _ = make_events(8, 16000, 0.95, seed=5)
    np.save(root / "quiet.npy", np.concatenate([clip_to_model_inputs(w * 10 ** (-50 / 20), frontend)[:1] for w in waves]))
    args = ["export", str(trained.checkpoint), "--target", "tflite", "--int8", "--calib", str(root / "quiet.npy"), "--name", "quiet",
            "--eval", str(labelled_clips), "--max-drop", "2"]
    refused = main([*args, "-o", str(root / "refused")])
    allowed = main([*args, "-o", str(root / "allowed"), "--allow-mismatch", "--json", str(root / "e.json")])
    return root, refused, allowed


def _clip_rows(path: Path) -> list[dict]:
    return list(csv.DictReader(path.open()))


def test_eval_of_a_checkpoint_and_its_exports_agrees_with_predict_clip_by_clip(trained, exported, clips, tmp_path, capsys):
    folder = exported[0] / "int8"
    models = [folder / "events_fp32.tflite", folder / "events_int8.tflite", exported[0] / "onnx" / "events.onnx"]
    code = main(["eval", str(trained.checkpoint), *map(str, models), "--data", str(clips), "--csv", str(tmp_path / "c.csv"),
                 "--json", str(tmp_path / "r.json")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "1 clip(s) could not be read" in captured.err and "broken.wav" in captured.err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["clips"] == 50 and report["scored"] == 49 and report["silent"] == 1
    assert report["task"] == "single-label" and report["labels"][0] == "tone"
    reference, *others = report["models"]
    assert reference["format"] == "torch" and reference["versus_reference"] is None
    assert reference["metrics"]["top1"]["value"] > 0.6  # a trained model, far above chance (1/8)
    for m in report["models"]:
        top1 = m["metrics"]["top1"]
        assert top1["low"] <= top1["value"] <= top1["high"] and top1["high"] - top1["low"] > 0.05  # 49 clips leave room
        assert m["metrics"]["top5"]["value"] >= top1["value"]
    rows = _clip_rows(tmp_path / "c.csv")
    assert len(rows) == 4 * 50
    for model in models:  # each exported file answers every clip as predict does
        assert main(["predict", str(model), str(clips), "--top-k", "1", "--csv", str(tmp_path / "p.csv")]) == 1  # broken.wav
        predicted = {r["file"]: r["label"] for r in _clip_rows(tmp_path / "p.csv") if r["status"] != "error"}
        evaluated = {r["file"]: r["predicted"] for r in rows if r["model"] == model.name and r["status"] != "error"}
        assert evaluated == predicted
    # the checkpoint, in PyTorch, answers as the model computes on the same windows, independently of eval's code
    import torch

    from edgeaudio.audio import load_audio
    from edgeaudio.checkpoint import load_checkpoint
    from edgeaudio.frontend import FrontendConfig, clip_to_model_inputs

    loaded = load_checkpoint(trained.checkpoint)
    frontend = FrontendConfig.from_dict(loaded.meta["frontend"])
    for row in (r for r in rows if r["model"] == trained.checkpoint.name and r["status"] != "error"):
        windows = clip_to_model_inputs(load_audio(row["file"], 16000), frontend)
        with torch.no_grad():
            scores = loaded.model.eval()(torch.from_numpy(windows)).numpy().mean(axis=0)
        assert loaded.meta["labels"][int(np.argmax(scores))] == row["predicted"]


def test_export_eval_refuses_a_real_loss_the_parity_gate_cannot_see_and_manifests_record_accuracy(quiet, capsys):
    root, refused, allowed = quiet
    assert refused == 1 and not list((root / "refused").glob("*.tflite"))  # nothing half-written
    assert allowed == 0
    report = json.loads((root / "e.json").read_text())
    assert all(step["passed"] for step in report["chain"])  # parity passed: the held-out samples were quiet too
    assert report["evaluation"]["models"][0]["format"] == "torch" and not report["evaluation"]["passed"]
    records = {p.name: json.loads(p.read_text())["accuracy"] for p in (root / "allowed").glob("*.manifest.json")}
    assert set(records) == {"quiet.onnx.manifest.json", "quiet_fp32.tflite.manifest.json", "quiet_int8.tflite.manifest.json"}
    float_record, int8_record = records["quiet_fp32.tflite.manifest.json"], records["quiet_int8.tflite.manifest.json"]
    assert float_record["gate"] == "pass" and float_record["value"] == float_record["reference_value"]
    assert int8_record["gate"].startswith("FAIL") and int8_record["p_worse"] < 0.05 and int8_record["clips"] == 49
    assert int8_record["reference"].startswith("events.pt (torch fp32")


def test_a_real_loss_fails_max_drop_while_noise_passes_and_junit_says_which(exported, quiet, clips, tmp_path, capsys):
    good, bad = exported[0] / "int8" / "events_int8.tflite", quiet[0] / "allowed" / "quiet_int8.tflite"
    capsys.readouterr()
    code = main(["eval", str(exported[0] / "int8" / "events_fp32.tflite"), str(good), str(bad), "--data", str(clips),
                 "--max-drop", "2", "--junit", str(tmp_path / "j.xml"), "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert code == 1, out
    _, good_row, bad_row = json.loads((tmp_path / "r.json").read_text())["models"]
    assert good_row["passed"] and good_row["versus_reference"]["p_worse"] >= 0.05
    assert not bad_row["passed"] and bad_row["versus_reference"]["p_worse"] < 0.05
    versus = bad_row["versus_reference"]
    assert versus["lost"] > versus["gained"] and versus["drop"] > 0.02 and versus["low"] > 0  # the interval excludes no loss
    assert "FAIL: quiet_int8.tflite" in out
    junit = (tmp_path / "j.xml").read_text()
    assert junit.count("<testcase") == 3 and junit.count("<failure") == 1 and 'name="quiet_int8.tflite"' in junit


def test_workers_give_the_same_report_as_one_process(exported, clips, tmp_path):
    models = [str(exported[0] / "int8" / "events_fp32.tflite"), str(exported[0] / "int8" / "events_int8.tflite")]
    reports = []
    for workers in ("1", "2"):
        assert main(["eval", *models, "--data", str(clips), "--workers", workers, "--json", str(tmp_path / f"{workers}.json")]) == 0
        report = json.loads((tmp_path / f"{workers}.json").read_text())
        reports.append([m["metrics"] for m in report["models"]] + [m["per_class"] for m in report["models"]])
    assert reports[0] == reports[1]


def test_a_table_of_paths_and_labels_matches_the_folder_layout(exported, clips, tmp_path):
    import os

    model = str(exported[0] / "int8" / "events_int8.tflite")
    table = tmp_path / "sub" / "labels.csv"
    table.parent.mkdir()
    with table.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["fname", "labels", "split"])  # FSD50K's columns: names without suffix, relative to the table
        for clip in sorted(clips.rglob("*.wav")):
            name = os.path.relpath(clip.with_suffix(""), table.parent)
            writer.writerow([name, clip.parent.name.replace("_", " ").title(), "test"])  # "Chirp Up" for chirp_up
    by_table, by_folder = tmp_path / "t.json", tmp_path / "f.json"
    assert main(["eval", model, "--data", str(table), "--json", str(by_table)]) == 0
    assert main(["eval", model, "--data", str(clips), "--json", str(by_folder)]) == 0
    a, b = (json.loads(p.read_text()) for p in (by_table, by_folder))
    assert a["scored"] == b["scored"] == 49 and a["models"][0]["metrics"] == b["models"][0]["metrics"]


def test_the_confusion_matrix_counts_every_scored_clip(exported, clips, tmp_path):
    model = exported[0] / "int8" / "events_int8.tflite"
    assert main(["eval", str(model), "--data", str(clips), "--confusion", str(tmp_path / "cm"), "--json", str(tmp_path / "r.json")]) == 0
    rows = list(csv.reader((tmp_path / "cm" / "events_int8.tflite.confusion.csv").open()))
    counts = np.array([[int(v) for v in row[1:]] for row in rows[1:]])
    report = json.loads((tmp_path / "r.json").read_text())
    assert counts.sum() == report["scored"] == 49
    assert np.trace(counts) == round(report["models"][0]["metrics"]["top1"]["value"] * 49)
    assert (tmp_path / "cm" / "events_int8.tflite.confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_labels_the_model_does_not_have_are_one_error_that_lists_them(exported, tmp_path, capsys):
    from edgeaudio.datasets.events import write_events

    root = tmp_path / "data"
    write_events(root, 1, 16000, 0.95, seed=3, by_class=True)
    (root / "tone").rename(root / "Tone")  # case and spelling aside, still the model's "tone"
    (root / "siren").rename(root / "trumpet")
    (root / "clicks").rename(root / "kazoo")
    code = main(["eval", str(exported[0] / "int8" / "events_int8.tflite"), "--data", str(root)])
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("[")]
    assert code == 2 and len(err) == 1, err
    assert "2 label(s) the model does not have" in err[0] and "'kazoo'" in err[0] and "'trumpet'" in err[0] and "Tone" not in err[0]


@pytest.mark.parametrize("content, problem", [
    ("clip.wav\n", "row 1 has no clip path and label"),
    ("path,label\n", "holds a header but no rows"),
    ("", "holds no rows"),
])
def test_a_broken_table_is_one_line_naming_it(exported, tmp_path, capsys, content, problem):
    table = tmp_path / "set.csv"
    table.write_text(content)
    code = main(["eval", str(exported[0] / "int8" / "events_int8.tflite"), "--data", str(table)])
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("[")]
    assert code == 2 and len(err) == 1 and "set.csv" in err[0] and problem in err[0], err


def test_a_set_where_no_clip_can_be_read_is_an_error(exported, tmp_path, capsys):
    (tmp_path / "data" / "tone").mkdir(parents=True)
    (tmp_path / "data" / "tone" / "a.wav").write_bytes(b"RIFF....not audio")
    code = main(["eval", str(exported[0] / "int8" / "events_int8.tflite"), "--data", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert code == 2 and "none of its 1 clips could be read" in err


def test_a_file_exported_without_class_names_takes_them_from_labels(exported, trained, clips, tmp_path, capsys):
    """An official checkpoint exported without --labels records no class names: eval refuses it with one line
    saying what to pass, takes --labels (checked against the model's class count), and then scores it exactly as
    the same file with its names recorded."""
    import shutil

    source = exported[0] / "int8" / "events_int8.tflite"
    bare = tmp_path / "bare_int8.tflite"
    shutil.copy(source, bare)
    manifest = json.loads(Path(f"{source}.manifest.json").read_text())
    manifest["labels"] = None
    Path(f"{bare}.manifest.json").write_text(json.dumps(manifest))

    code = main(["eval", str(bare), "--data", str(clips)])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("edgeaudio: error")]
    assert code == 2 and len(err) == 1 and "bare_int8.tflite" in err[0] and "--labels FILE" in err[0], err
    short = tmp_path / "short.txt"
    short.write_text("tone\nsiren\n")
    assert main(["eval", str(bare), "--data", str(clips), "--labels", str(short)]) == 2
    assert "2 labels given for a model with 8 classes" in capsys.readouterr().err

    code = main(["eval", str(source), str(bare), "--data", str(clips), "--labels", str(trained.labels), "--json", str(tmp_path / "r.json")])
    assert code == 0, capsys.readouterr().err
    named, unnamed = json.loads((tmp_path / "r.json").read_text())["models"]
    assert unnamed["versus_reference"]["lost"] == 0 and unnamed["versus_reference"]["gained"] == 0
    assert unnamed["metrics"] == named["metrics"]
