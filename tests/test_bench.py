"""edgeaudio bench: one fresh process per model, latency spread, memory, graph counts; bad files are one line."""

from __future__ import annotations

import csv
import json
import os

import pytest

from edgeaudio.cli import main


def test_bench_reports_every_exported_format_with_counts_and_memory(exported, tmp_path, capsys):
    folder = exported[0]
    models = [folder / "onnx" / "events.onnx", folder / "fp16" / "events_fp16.tflite", folder / "int8" / "events_int8.tflite"]
    code = main(["bench", *map(str, models), "--runs", "20", "--warmup", "3", "--threads", "1,2",
                 "--json", str(tmp_path / "b.json"), "--csv", str(tmp_path / "b.csv")])
    assert code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "b.json").read_text())
    rows = report["rows"]
    assert len(rows) == 6 and report["machine"]["cores"] >= 1
    for row in rows:
        assert row["runs"] >= 20 and row["min_ms"] <= row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"] <= row["max_ms"]
        assert row["peak_rss_mb"] > 0 and row["load_ms"] > 0 and row["throughput_per_s"] > 0
    onnx_row, fp16_row, int8_row = rows[0], rows[2], rows[4]
    assert int8_row["input_dtype"] == "int8" and int8_row["delegate"] == "XNNPACK"
    assert int8_row["macs"] == fp16_row["macs"] == onnx_row["macs"] > 0  # the same graph counted three ways
    assert abs(int8_row["params"] - onnx_row["params"]) / onnx_row["params"] < 0.01
    assert len(list(csv.DictReader((tmp_path / "b.csv").open()))) == 6


def test_bench_without_arguments_finds_the_models_in_the_current_folder(exported, monkeypatch, capsys):
    monkeypatch.chdir(exported[0] / "int8")
    assert main(["bench", "--runs", "5", "--warmup", "1"]) == 0
    out = capsys.readouterr().out
    assert "events_int8.tflite" in out and "events_fp32.tflite" in out and "events.onnx" in out


@pytest.mark.slow
def test_bench_of_a_checkpoint_in_every_format_gives_ratios_parity_and_accuracy(trained, labelled_clips, tmp_path, capsys):
    code = main(["bench", str(trained.official), "--formats", "torch,onnx-int8,tflite-fp32,tflite-int8", "--calib",
                 str(trained.calib_npy), "--runs", "10", "--warmup", "2", "--json", str(tmp_path / "b.json"),
                 "--eval", str(labelled_clips), "--labels", str(trained.labels)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "parity vs original" in out and "top-1 % (95% CI)" in out
    rows = json.loads((tmp_path / "b.json").read_text())["rows"]
    assert [r["parity"] is None for r in rows] == [True, True, False, False, False]
    assert rows[2]["parity"].startswith("pass: cos") and rows[3]["parity"].startswith("pass: abs")
    assert rows[0]["accuracy"] == rows[1]["accuracy"] and rows[0]["accuracy"]["drop"] is None  # the reference
    assert rows[0]["accuracy"]["value"] > 0.6 and rows[0]["accuracy"]["clips"] == 49
    assert rows[3]["accuracy"]["value"] == rows[0]["accuracy"]["value"]  # fp32 answers every clip as PyTorch does
    assert [r["label"] for r in rows] == ["torch", "torch-folded", "onnx-int8", "tflite-fp32", "tflite-int8"]
    assert [r["precision"] for r in rows[2:]] == ["int8", "fp32", "int8"]
    assert rows[0]["speedup_vs_torch"] == 1.0 and all(r["speedup_vs_torch"] > 0 for r in rows)
    assert rows[1]["precision"] == "fp32 folded" and rows[1]["params"] < rows[0]["params"]


@pytest.mark.parametrize("kind", ["random", "empty", "onnx-renamed", "truncated"])
def test_corrupt_model_files_are_one_line_errors_not_crashes(exported, tmp_path, capsys, kind):
    bad = tmp_path / "model.tflite"
    real = (exported[0] / "int8" / "events_int8.tflite").read_bytes()
    bad.write_bytes({
        "random": os.urandom(4096),
        "empty": b"",
        "onnx-renamed": (exported[0] / "onnx" / "events.onnx").read_bytes(),
        "truncated": real[: len(real) // 3],
    }[kind])
    code = main(["bench", str(bad), "--runs", "2", "--warmup", "0"])
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("[")]
    assert code == 2 and len(err) == 1 and "model.tflite" in err[0], err


def test_batch_scales_the_graph_macs_and_a_fixed_batch_onnx_says_how_to_fix_it(exported, tmp_path, capsys):
    model = exported[0] / "int8" / "events_int8.tflite"
    assert main(["bench", str(model), "--batch", "1,2", "--runs", "3", "--warmup", "0", "--json", str(tmp_path / "b.json")]) == 0
    rows = json.loads((tmp_path / "b.json").read_text())["rows"]
    assert rows[1]["macs"] == 2 * rows[0]["macs"] and rows[1]["batch"] == 2
    static = exported[0] / "fp16" / "events.onnx"  # exported without --dynamic-batch
    capsys.readouterr()
    assert main(["bench", str(static), "--batch", "2", "--runs", "1"]) == 2
    assert "export it with --dynamic-batch" in capsys.readouterr().err
