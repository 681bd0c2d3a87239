"""The LEAN-style model: raw waveform in, YAMNet's log-mel computed in the graph, cross-attention, multi-label
out; exported end to end from waveform with the front end float and the rest int8."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from edgeaudio.checkpoint import load_checkpoint, save_edgeaudio
from edgeaudio.cli import main
from edgeaudio.datasets.events import CLASSES, make_mixtures
from edgeaudio.fold import fold_model
from edgeaudio.frontend import PRESETS, clip_to_model_inputs, logmel, yamnet_waveform
from edgeaudio.models import get_spec
from edgeaudio.models.audiorepinceptionnext.blocks import randomize_batchnorm
from edgeaudio.pipeline.export import ExportOptions, export_checkpoint
from edgeaudio.runtime.tflite import TFLiteModel
from edgeaudio.synthetic import synthetic_waveform

SPEC = get_spec("lean")
SMALL = dict(num_classes=(len(CLASSES),), patches=2, yamnet_width=0.25)


@dataclass
class ExportedLEAN:
    checkpoint: Path
    out: Path
    result: object


@pytest.fixture(scope="module")
def exported_lean(tmp_path_factory) -> ExportedLEAN:
    """A small LEAN-style model trained briefly on multi-label mixtures, exported to TFLite int8 from waveforms."""
    from edgeaudio.models.lean.training import train_lean

    root = tmp_path_factory.mktemp("lean")
    config = SPEC.config(**SMALL)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # deterministic weights, so the int8 gate always judges the same model
    try:
        torch.manual_seed(0)
        model = SPEC.build(config)
        waves, targets = make_mixtures(160, 16000, config.samples / 16000, seed=0)
        train_lean(model, waves, targets, epochs=8, lr=3e-3, seed=0)
    finally:
        torch.set_num_threads(threads)
    checkpoint = save_edgeaudio(model, root / "lean.pt", {"labels": list(CLASSES)})
    calib, _ = make_mixtures(120, 16000, config.samples / 16000, seed=7)
    np.save(root / "calib.npy", calib)
    result = export_checkpoint(checkpoint, root / "out", ExportOptions(target="tflite", precision="int8", calib=str(root / "calib.npy")))
    return ExportedLEAN(checkpoint, root / "out", result)


def test_the_in_graph_log_mel_is_the_numpy_yamnet_front_end():
    model = SPEC.build(SPEC.config(**SMALL)).eval()
    wave = synthetic_waveform(2, model.config.samples, seed=3)
    with torch.no_grad():
        ours = model.logmel(torch.from_numpy(wave)).numpy()
    for got, w in zip(ours, wave):
        assert np.abs(got - logmel(w, PRESETS["yamnet"])).max() < 2e-4  # float32 DFT by blocks vs float64 FFT, in log units
    patches = model.patches(torch.from_numpy(wave[:1])).numpy()
    expected = clip_to_model_inputs(wave[0], PRESETS["yamnet"])  # YAMNet's own patching of the same window
    assert patches.shape == expected.shape == (2, 1, 96, 64)
    assert np.abs(patches - expected).max() < 1e-4


@torch.no_grad()
def test_folding_keeps_the_outputs_of_every_branch():
    torch.manual_seed(1)
    model = SPEC.build(SPEC.config(**SMALL)).eval()
    randomize_batchnorm(model, torch.Generator().manual_seed(2))
    for module in model.modules():  # YAMNet's centre-only batch norms too
        if hasattr(module, "running_var") and not isinstance(module, torch.nn.BatchNorm1d):
            module.running_var.uniform_(0.5, 2.0)
            module.running_mean.normal_(0, 0.5)
    folded = fold_model(model).eval()
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in folded.modules())
    x = torch.from_numpy(synthetic_waveform(3, model.config.samples, seed=4))
    reference = model.set_output("logits")(x)
    assert (folded.set_output("logits")(x) - reference).abs().max() <= 1e-5 * reference.abs().max()


def test_the_fsd50k_config_counts_and_round_trips_through_an_edgeaudio_checkpoint(tmp_path):
    from edgeaudio.pipeline.info import info_for_arch

    report = info_for_arch("lean", preset="fsd50k")
    training = next(f.counts for f in report.forms if f.form == "training")
    assert report.classes == (200,) and report.input_shape == (1, 30960)
    assert 3.4e6 < training.params < 3.6e6  # YAMNet's 3.2M body plus 0.32M of LEAN's own
    model = SPEC.build(SPEC.config("fsd50k"))
    loaded = load_checkpoint(save_edgeaudio(model, tmp_path / "lean.pt"))
    assert loaded.spec.name == "lean" and loaded.config == model.config and loaded.form == "training"


def test_official_yamnet_weights_go_into_the_yamnet_branch():
    yamnet_spec = get_spec("yamnet")
    yamnet = yamnet_spec.build(yamnet_spec.config(width=0.25))
    torch.nn.init.normal_(yamnet.layer3.pointwise_conv.weight)
    model = SPEC.build(SPEC.config(**SMALL))
    model.load_yamnet(yamnet.state_dict())  # YAMNet's AudioSet head is not part of LEAN and is skipped
    assert torch.equal(model.yamnet.layer3.pointwise_conv.weight, yamnet.layer3.pointwise_conv.weight)
    assert not model.yamnet.layer3.pointwise_conv.weight.requires_grad  # frozen by default


def test_int8_export_from_raw_waveform_passes_every_gate_with_a_float_front_end(exported_lean):
    result = exported_lean.result
    assert result.passed, [c.failures for c in result.chain]
    assert [c.step for c in result.chain] == ["fold, float64", "PyTorch folded", "ONNX Runtime", "TFLite fp32", "TFLite int8"]
    int8 = next(m for m in result.models if m.precision == "int8")
    tflite = TFLiteModel(int8.path)
    ops = tflite.ops()
    assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"]
    # Float until each LOG (log-mel and the wave filters' log energy), then QUANTIZE into the int8 body.
    assert ops.count("LOG") == 2 and ops.count("QUANTIZE") >= 2 and "SQRT" in ops and "SOFTMAX" in ops
    assert [np.dtype(d["dtype"]).name for d in (*tflite.inputs, *tflite.outputs)] == ["float32", "float32"]
    assert list(tflite.inputs[0]["shape"]) == [1, SPEC.config(**SMALL).samples]
    metrics = next(c for c in result.chain if c.step == "TFLite int8").to_dict()["outputs"][0]
    assert metrics["cosine"] >= 0.99 and metrics["max_abs"] <= 0.1
    manifest = json.loads(Path(int8.manifest).read_text())
    assert manifest["export_options"]["int8_float_until"] == ["LOG"]
    assert manifest["frontend"] == yamnet_waveform(2).to_dict()
    assert int8.size_bytes < next(m for m in result.models if m.precision == "fp32").size_bytes / 1.6


def test_predict_labels_a_wav_clip_through_the_exported_waveform_model(exported_lean, tmp_path, capsys):
    from edgeaudio.audio import write_wav

    config = SPEC.config(**SMALL)
    waves, targets = make_mixtures(1, 16000, 2.5 * config.samples / 16000, seed=11)
    clip = tmp_path / "mixture.wav"
    write_wav(clip, waves[0], 16000)
    model = exported_lean.out / "lean_int8.tflite"
    assert main(["predict", str(model), str(clip), "--top-k", "3", "--json", str(tmp_path / "p.json")]) == 0
    report = json.loads((tmp_path / "p.json").read_text())
    windows = report["clips"][0]["windows"]
    # Windows start every `patches` patch hops (15360 samples) and the last is zero-padded, as YAMNet pads.
    assert len(windows) == 1 + int(np.ceil((len(waves[0]) - config.samples) / 15360)) == 4
    assert "mixture.wav" in capsys.readouterr().out


def test_verify_recomputes_the_gate_from_the_manifest(exported_lean, capsys):
    assert main(["verify", str(exported_lean.out / "lean_int8.tflite")]) == 0
    assert "pass" in capsys.readouterr().out.lower()


def test_waveform_calibration_of_the_wrong_length_is_a_one_line_error(exported_lean, tmp_path, capsys):
    bad = tmp_path / "short.npy"
    np.save(bad, np.zeros((30, 1000), dtype=np.float32))
    assert main(["export", str(exported_lean.checkpoint), "--target", "tflite", "--int8", "--calib", str(bad), "-o", str(tmp_path / "o")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and "short.npy" in errors[0] and "(N, 23280) waveforms" in errors[0]
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


@pytest.mark.slow
def test_the_full_size_fsd50k_model_is_at_most_4_5_mb_in_int8_with_builtin_ops_only(tmp_path):
    torch.manual_seed(0)
    model = SPEC.build(SPEC.config("fsd50k"))  # untrained: size and ops do not depend on the weights
    checkpoint = save_edgeaudio(model, tmp_path / "lean_fsd50k.pt")
    result = export_checkpoint(checkpoint, tmp_path / "out", ExportOptions(target="tflite", precision="int8", calib="synthetic", allow_mismatch=True))
    int8 = next(m for m in result.models if m.precision == "int8")
    assert int8.size_bytes <= 4_500_000, int8.size_bytes
    ops = TFLiteModel(int8.path).ops()
    assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"]


def test_eval_scores_mixtures_by_map_from_an_fsd50k_style_table(exported_lean, tmp_path, capsys):
    """Multi-label: clips with 1-3 events, labelled in a CSV whose quoted fields list them comma-separated (as
    FSD50K's ground truth does); the checkpoint in PyTorch, its exports from the waveform. mAP with its interval,
    per-class AP, and a paired bootstrap against the checkpoint."""
    import csv

    from edgeaudio.audio import write_wav

    config = SPEC.config(**SMALL)
    waves, targets = make_mixtures(48, 16000, config.samples / 16000, seed=13)
    with (tmp_path / "eval.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["fname", "labels", "mids", "split"])
        for i, (wave, target) in enumerate(zip(waves, targets)):
            write_wav(tmp_path / f"{i}.wav", wave, 16000)
            writer.writerow([str(i), ",".join(CLASSES[c] for c in np.flatnonzero(target)), "", "eval"])
    models = [exported_lean.checkpoint, exported_lean.out / "lean_fp32.tflite", exported_lean.out / "lean_int8.tflite"]
    code = main(["eval", *map(str, models), "--data", str(tmp_path / "eval.csv"), "--json", str(tmp_path / "r.json"),
                 "--max-drop", "5"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "mAP % (95% CI)" in out and "paired bootstrap" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["task"] == "multi-label" and report["headline"] == "mAP" and report["scored"] == 48
    torch_row, fp32_row, int8_row = report["models"]
    assert torch_row["format"] == "torch" and 0.5 < torch_row["metrics"]["mAP"]["value"] <= 1  # trained, briefly
    present = [c for c in range(len(CLASSES)) if targets[:, c].any()]
    assert [c for c, ap in enumerate(torch_row["per_class"]) if ap is not None] == present
    assert abs(fp32_row["versus_reference"]["drop"]) < 1e-3  # float: the same ranking of clips
    assert int8_row["versus_reference"]["test"] == "paired bootstrap, one-sided" and int8_row["passed"]
