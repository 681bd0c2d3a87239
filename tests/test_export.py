"""The export chain: ONNX and TFLite (fp32, fp16, full int8) pass their gates, follow the graph rules, carry a
manifest; verify re-checks them and catches tampering; bad input and failed gates leave nothing behind."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from edgeaudio.cli import main
from edgeaudio.runtime.manifest import read_manifest
from edgeaudio.runtime.tflite import TFLiteModel


def _report(exported, name):
    out, codes = exported
    assert codes[name] == 0
    return json.loads((out / f"{name}.json").read_text())


def test_onnx_export_passes_the_gate_and_carries_its_metadata(exported):
    report = _report(exported, "onnx")
    assert [s["step"] for s in report["chain"]] == ["fold, float64", "PyTorch folded", "ONNX Runtime"]
    assert all(s["passed"] for s in report["chain"])
    import onnx

    model = onnx.load(str(exported[0] / "onnx" / "events.onnx"))
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["arch"] == "audiorepinceptionnext" and json.loads(meta["labels"])[0] == "tone"
    assert json.loads(meta["frontend"])["n_mels"] == 64 and len(meta["source_sha256"]) == 64
    assert model.graph.input[0].name == "logmel"
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # dynamic batch
    logits_step = report["chain"][2]["outputs"][0]
    assert logits_step["max_abs"] < 1e-5


def test_tflite_fp32_and_fp16_are_builtin_nhwc_without_transposes(exported):
    report = _report(exported, "fp16")
    assert [s["step"] for s in report["chain"]] == ["fold, float64", "PyTorch folded", "ONNX Runtime", "TFLite fp32", "TFLite fp16"]
    assert all(s["passed"] for s in report["chain"])
    for name in ("events_fp32.tflite", "events_fp16.tflite"):
        model = TFLiteModel(exported[0] / "fp16" / name)
        ops = model.ops()
        assert "TRANSPOSE" not in ops and not any(op.startswith("Flex") for op in ops)
        assert model.input_shape == (1, 96, 64, 1)
    manifest = read_manifest(exported[0] / "fp16" / "events_fp16.tflite")
    assert manifest.inputs[0].layout == "NHWC" and manifest.labels[:2] == ["tone", "chirp_up"]
    assert manifest.frontend["sample_rate"] == 16000


def test_full_int8_has_int8_ends_per_channel_weights_and_a_quarter_of_the_size(exported):
    report = _report(exported, "int8")
    int8_step = report["chain"][-1]
    assert int8_step["step"] == "TFLite int8" and int8_step["passed"]
    assert int8_step["outputs"][0]["top1"] >= 0.98 and int8_step["outputs"][0]["cosine"] >= 0.99
    assert report["data"]["calibration_samples"] + report["data"]["held_out_samples"] == 480
    folder = exported[0] / "int8"
    model = TFLiteModel(folder / "events_int8.tflite")
    assert model.input_dtype == np.int8 and np.dtype(model.outputs[0]["dtype"]) == np.int8
    manifest = read_manifest(folder / "events_int8.tflite")
    assert manifest.inputs[0].dtype == "int8" and manifest.inputs[0].scale > 0
    assert manifest.outputs[0].scale == pytest.approx(1 / 256) and manifest.float_model == "events_fp32.tflite"
    # auto ranges never cost what min-max does not need: min-max passed, so nothing else was tried
    assert manifest.export_options["calib_method"] == "minmax" and manifest.export_options["calib_selection"] == "auto"
    assert manifest.export_options["calib_tries"] == []
    ops = Counter(model.ops())
    assert ops["CONV_2D"] > 0 and ops["DEPTHWISE_CONV_2D"] == 8 and "TRANSPOSE" not in ops and "DEQUANTIZE" not in ops
    per_channel = [
        t for t in model.interpreter.get_tensor_details()
        if len(t["quantization_parameters"]["scales"]) > 1
    ]
    assert per_channel, "weights should be quantized per channel"
    ratio = (folder / "events_int8.tflite").stat().st_size / (folder / "events_fp32.tflite").stat().st_size
    assert ratio < 0.4  # a small model's flatbuffer overhead keeps it above 1/4; the VGG-size one is 0.27


def test_verify_passes_on_the_real_model_and_writes_junit_and_json_naming_pytorch_modules(exported, trained, tmp_path, capsys):
    model = exported[0] / "int8" / "events_int8.tflite"
    code = main(["verify", str(model), "--junit", str(tmp_path / "j.xml"), "--json", str(tmp_path / "v.json"), "--per-layer"])
    assert code == 0, capsys.readouterr().err
    assert 'failures="0"' in (tmp_path / "j.xml").read_text()
    data = json.loads((tmp_path / "v.json").read_text())
    assert data["passed"] and len(data["per_layer"]) > 10
    assert all(layer["sqnr_db"] is None or layer["sqnr_db"] > 5 for layer in data["per_layer"])
    # every layer named by the PyTorch module it came from, as the checkpoint's keys name them
    from edgeaudio.checkpoint import load_checkpoint
    from edgeaudio.fold import fold_model

    modules = dict(fold_model(load_checkpoint(trained.checkpoint).model).named_modules())
    by_op = {}
    for layer in data["per_layer"]:
        assert layer["module"] in modules, layer
        by_op.setdefault(layer["op"], set()).add(layer["module"].rsplit(".", 1)[-1])
    assert by_op["DEPTHWISE_CONV_2D"] == {"a_reparam", "b_reparam"}  # the folded time and frequency kernels
    assert {"a_head", "c", "d", "branch1", "conv"} <= by_op["CONV_2D"] and by_op["FULLY_CONNECTED"] == {"projection"}
    assert all(name.startswith("pathway0_res") for name in by_op["ADD"])  # each block's residual sum


def test_verify_against_the_checkpoint_itself(exported, trained):
    model = exported[0] / "fp16" / "events_fp32.tflite"
    assert main(["verify", str(model), "--reference", str(trained.checkpoint)]) == 0


def _tamper_weights(path, out):
    """Negate every int8 weight tensor of the model in the file's bytes (what a corrupted copy could do)."""
    model = TFLiteModel(path)
    blob = bytearray(path.read_bytes())
    changed = 0
    for t in model.interpreter.get_tensor_details():
        try:
            values = model.interpreter.get_tensor(t["index"])
        except ValueError:  # activations have no data before a run
            continue
        data = values.tobytes()
        start = blob.find(data) if values.dtype == np.int8 and values.size >= 512 else -1
        if start > 0:
            blob[start : start + len(data)] = (-values.astype(np.int16)).clip(-128, 127).astype(np.int8).tobytes()
            changed += 1
    assert changed > 3, "no weight tensors found to tamper with"
    out.write_bytes(bytes(blob))


def test_verify_fails_with_exit_1_on_tampered_weights(exported, tmp_path, capsys):
    folder = exported[0] / "int8"
    bad = tmp_path / "events_int8.tflite"
    _tamper_weights(folder / "events_int8.tflite", bad)
    for suffix in (".manifest.json",):
        (tmp_path / f"events_int8.tflite{suffix}").write_bytes((folder / f"events_int8.tflite{suffix}").read_bytes())
    (tmp_path / "events.expected.npz").write_bytes((folder / "events.expected.npz").read_bytes())
    code = main(["verify", str(bad), "--junit", str(tmp_path / "j.xml")])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    assert "sha256 differs from the manifest" in captured.out and "top-1 agreement" in captured.out
    assert 'failures="1"' in (tmp_path / "j.xml").read_text()


@pytest.mark.slow
def test_int8_from_a_folder_of_audio_through_the_recorded_front_end(trained, tmp_path):
    # 16 held-out windows are too few for a 98% top-1 bound to survive one near-tie flip: judge by cosine here
    # the official checkpoint's cfg states the feature settings (AUDIO_DATA); the front end follows from it
    code = main(["export", str(trained.official), "--target", "tflite", "--int8", "--calib", str(trained.audio_dir),
                 "--name", "events", "-o", str(tmp_path / "out"), "--json", str(tmp_path / "r.json"), "--allow-mismatch"])
    report = json.loads((tmp_path / "r.json").read_text())
    assert code == 0
    assert report["chain"][-1]["outputs"][0]["cosine"] >= 0.99
    assert read_manifest(tmp_path / "out" / "events_int8.tflite").frontend["n_mels"] == 64
    assert report["data"] == {"source": str(trained.audio_dir), "kind": "the user's data", "calibration_samples": 64, "held_out_samples": 16,
                              "skipped_files": []}


@pytest.mark.slow
def test_a_failed_gate_exits_1_leaves_no_model_and_still_reports_every_step(trained, tmp_path, capsys):
    """int8 calibrated on the wrong distribution, judged on the model's own kind of input: the gate must say so,
    and --json / --junit still carry the numbers of every step, the failing one included (what CI needs most)."""
    import xml.etree.ElementTree as ET

    from tests.conftest import wrong_calibration

    np.save(tmp_path / "wrong.npy", wrong_calibration(np.load(trained.calib_npy)[:32]))
    code = main(["export", str(trained.official), "--target", "tflite", "--int8", "--calib", str(tmp_path / "wrong.npy"),
                 "-o", str(tmp_path / "out"), "--json", str(tmp_path / "r.json"), "--junit", str(tmp_path / "r.xml")])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    assert "parity gate" in captured.err and "TFLite int8" in captured.err
    assert "FAIL: nothing written" in captured.out
    # no model, no manifest: only the HTML report, which a failed export writes beside where its files would be
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["checkpoint_best.report.html"]
    page = (tmp_path / "out" / "checkpoint_best.report.html").read_text()
    assert '<span class="verdict fail">FAIL</span>' in page and "a gate failed, so the export wrote no model" in page
    assert all(f"tflite-int8 \u00b7 {method} \u00b7 1 - cosine" in page for method in ("minmax", "percentile", "mse"))
    assert "Input rounding alone: tflite-int8" in page and "its int8 input range, set by the calibration data, clips" in page
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["passed"] is False and report["models"] == [] and "TFLite int8" in report["failure"]
    steps = {step["step"]: step for step in report["chain"]}
    assert [p["name"] for p in report["plan"]] == ["onnx", "tflite-fp32", "tflite-int8"]
    assert steps["TFLite fp32"]["passed"] is True and steps["TFLite int8"]["passed"] is False
    int8 = steps["TFLite int8"]["outputs"][0]
    assert int8["cosine"] < 0.99 and steps["TFLite int8"]["failures"]
    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    assert int(suite.get("failures")) >= 1 and int(suite.get("tests")) == len(report["chain"])
    # --calib-method auto (the default) tried every TFLite range method on calibration samples apart from the
    # held-out ones, kept the best, and says so
    int8_plan = report["plan"][-1]
    assert int8_plan["calib_method"] == "auto" and [t["method"] for t in int8_plan["tries"]] == ["minmax", "percentile", "mse"]
    assert all(0 < t["cosine"] <= 1 for t in int8_plan["tries"]) and int8_plan["calib_method_used"] in ("minmax", "percentile", "mse")
    assert "ranges tried on calibration samples: minmax cos" in report["failure"]
    # and it blames the calibration data, not the model: the wrong data's input range clips the real inputs
    assert int8_plan["input_rounding"]["clipped_input_share"] > 0.01
    assert "its int8 input range, set by the calibration data, clips" in report["failure"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--target", "onnx", "--fp16"], "fp16 is written by --target tflite"),
        (["--target", "tflite", "--int8", "--fp16"], "exclude each other"),
        (["--target", "coreml"], "Invalid value for '--target'"),
        (["--target", "tflite", "--int8", "--calib", "{wrong_shape}"], "the model takes (N, 1, 96, 64)"),
        (["--target", "tflite", "--int8", "--calib", "{too_few}"], "needs at least 24"),
        (["--target", "tflite", "--int8", "--calib", "{not_audio}"], "none of its 1 audio files can calibrate"),
    ],
)
def test_bad_export_input_is_one_line_and_exit_2(trained, tmp_path, capsys, args, message):
    np.save(tmp_path / "wrong.npy", np.zeros((30, 1, 64, 64), dtype=np.float32))
    np.save(tmp_path / "few.npy", np.zeros((10, 1, 96, 64), dtype=np.float32))
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.wav").write_text("not audio")
    subs = {"{wrong_shape}": str(tmp_path / "wrong.npy"), "{too_few}": str(tmp_path / "few.npy"), "{not_audio}": str(tmp_path / "clips")}
    args = [subs.get(a, a) for a in args]
    code = main(["export", str(trained.checkpoint), "-o", str(tmp_path / "out"), *args])
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("[")]
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_output_that_is_a_file_is_refused(trained, tmp_path, capsys):
    (tmp_path / "taken").write_text("")
    assert main(["export", str(trained.checkpoint), "-o", str(tmp_path / "taken")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_an_interrupted_export_leaves_no_partial_file(trained, tmp_path, monkeypatch):
    import edgeaudio.exporters.to_tflite as to_tflite

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(to_tflite, "saved_model_apart", interrupted)  # the export's call, in its own process
    assert main(["export", str(trained.checkpoint), "--target", "tflite", "-o", str(tmp_path / "out")]) == 130
    assert list((tmp_path / "out").iterdir()) == []
    import threading

    # the gate was stopped and its threads ended: none goes on computing beside what the caller does next (the next
    # test's torch.onnx export, which refuses to run beside them)
    assert [t.name for t in threading.enumerate() if t.name.startswith("edgeaudio-")] == []


@pytest.mark.slow
def test_onnx_int8_through_onnx_runtime_quantization_passes_its_gate_and_verify_bench_and_predict_run_it(trained, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["export", str(trained.official), "--target", "onnx", "--int8", "--calib", str(trained.calib_npy), "--name", "events",
                 "--labels", str(trained.labels), "-o", str(out), "--json", str(tmp_path / "r.json")])
    assert code == 0, capsys.readouterr().err
    steps = {s["step"]: s for s in json.loads((tmp_path / "r.json").read_text())["chain"]}
    assert list(steps) == ["fold, float64", "PyTorch folded", "ONNX Runtime", "ONNX Runtime int8"]
    int8 = steps["ONNX Runtime int8"]
    assert int8["passed"] and int8["outputs"][0]["cosine"] >= 0.99
    model = out / "events_int8.onnx"
    manifest = read_manifest(model)
    assert manifest.format == "onnx" and manifest.precision == "int8" and manifest.float_model == "events.onnx"
    assert manifest.export_options["onnx"]["int8"]["format"] == "QDQ" and manifest.export_options["onnx"]["int8"]["quantize_linear_nodes"] > 10
    assert main(["verify", str(model)]) == 0
    lonely = tmp_path / "lonely" / "model.onnx"  # no manifest: the precision comes from the graph
    lonely.parent.mkdir()
    lonely.write_bytes(model.read_bytes())
    assert main(["bench", str(lonely), "--runs", "3", "--warmup", "1", "--json", str(tmp_path / "b.json")]) == 0
    assert json.loads((tmp_path / "b.json").read_text())["rows"][0]["precision"] == "int8"
    clip = sorted(trained.audio_dir.glob("*.wav"))[0]
    assert main(["predict", str(model), str(clip)]) == 0
    assert clip.name in capsys.readouterr().out


@pytest.mark.slow
def test_onnx_int8_calibrated_on_the_wrong_distribution_fails_its_gate(trained, tmp_path, capsys):
    from tests.conftest import wrong_calibration

    np.save(tmp_path / "wrong.npy", wrong_calibration(np.load(trained.calib_npy)[:32]))
    code = main(["export", str(trained.official), "--target", "onnx", "--int8", "--calib", str(tmp_path / "wrong.npy"),
                 "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and "ONNX Runtime int8" in err, err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["checkpoint_best.report.html"]  # no model, only the report


def test_an_export_plans_each_file_after_the_files_it_starts_from():
    from edgeaudio.artifacts import Artifact
    from edgeaudio.exporters import plan_export

    def names(requested, calib_method=None):
        return [(s.artifact.name, s.candidates, s.requested) for s in plan_export([Artifact.parse(r) for r in requested], calib_method).steps]

    assert names(["onnx"]) == [("onnx", (), True)]
    assert names(["tflite-int8", "tflite-fp16"]) == [  # auto: min-max first, then the target's other methods
        ("onnx", (), False), ("tflite-fp32", (), False), ("tflite-int8", ("minmax", "percentile", "mse"), True), ("tflite-fp16", (), True)]
    assert names(["onnx-int8", "tflite-int8"], "percentile") == [
        ("onnx", (), False), ("onnx-int8", ("percentile",), True), ("tflite-fp32", (), False), ("tflite-int8", ("percentile",), True)]
    assert names(["executorch-int8"]) == [("executorch-int8", ("minmax", "histogram"), True)]  # from the PyTorch module: no ONNX file


@pytest.mark.parametrize("args, message", [
    (["--target", "executorch", "--int8", "--calib-method", "mse"], "--calib-method mse: ExecuTorch int8 does not honour it"),
    (["--target", "onnx", "--int8", "--calib-method", "mse"], "--calib-method mse: ONNX Runtime int8 does not honour it (it takes auto, minmax, percentile)"),
    (["--target", "executorch", "--fp16"], "--target executorch writes fp32, int8; fp16 is written by --target tflite"),
    (["--target", "tflite", "--calib-method", "minmax"], "no int8 file is asked for"),
])
def test_a_combination_no_exporter_supports_is_refused_in_one_line_before_any_work(tmp_path, capsys, args, message):
    # the checkpoint does not even exist: the plan is refused before anything is loaded
    code = main(["export", str(tmp_path / "missing.pyth"), *args, "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_auto_keeps_the_try_that_passes_with_the_highest_cosine_and_blames_a_clipping_input_range():
    from edgeaudio.parity import check
    from edgeaudio.pipeline.calibration_choice import CalibrationTry, InputRounding, Judged, best

    tries = [CalibrationTry("minmax", Judged(0.991, 0.97, False, 1.0, ["top-1"])), CalibrationTry("percentile", Judged(0.995, 0.99, True, 1.0, [])),
             CalibrationTry("mse", Judged(0.993, 1.0, True, 1.0, []))]
    assert best(tries).method == "percentile"
    assert best([t for t in tries if not t.passed] + [CalibrationTry("mse", Judged(0.95, 0.9, False, 1.0, ["cos"]))]).method == "minmax"

    same = np.eye(4, dtype=np.float32)
    passing = check("rounded", "fp32 twin", {"p": (same, same)}, {})
    assert InputRounding(passing, clipped=0.0).diagnosis is None
    assert "clips 25.0% of the held-out input values" in InputRounding(passing, clipped=0.25).diagnosis


@pytest.mark.slow
def test_a_two_head_checkpoint_exports_to_tflite_with_its_heads_in_order(tmp_path):
    """EPIC-KITCHENS checkpoints have a verb head and a noun head. The TFLite converter lists a graph's outputs by
    tensor name (measured: noun first); the runtime takes the serving signature's order, so each head's gate
    compares verb with verb and noun with noun, and the manifest's outputs have the heads' class counts."""
    import torch

    from edgeaudio.checkpoint import save_official
    from edgeaudio.models import get_spec

    spec = get_spec("audiorepinceptionnext")
    torch.manual_seed(0)
    model = spec.build(spec.config(num_classes=(3, 7), frames=64, mels=64, width=8, depths=(1, 1, 1, 1))).eval()
    checkpoint = save_official(model, tmp_path / "two_heads.pyth", epoch=3)
    code = main(["export", str(checkpoint), "--target", "tflite", "-o", str(tmp_path / "out"), "--json", str(tmp_path / "r.json")])
    report = json.loads((tmp_path / "r.json").read_text())
    assert code == 0, report["failure"]
    tflite = next(s for s in report["chain"] if s["step"] == "TFLite fp32")
    assert [o["name"] for o in tflite["outputs"]] == ["verb_probabilities", "noun_probabilities"] and tflite["passed"]
    manifest = read_manifest(tmp_path / "out" / "two_heads_fp32.tflite")
    assert [o.shape[-1] for o in manifest.outputs] == [3, 7]
    assert [o.shape[-1] for o in TFLiteModel(tmp_path / "out" / "two_heads_fp32.tflite").run(np.zeros((1, 64, 64, 1), np.float32))] == [3, 7]


def test_generated_calibration_judges_the_tries_on_fresh_generated_samples_and_calibrates_them_as_the_final_file(tmp_path):
    """The user's calibration is split to judge the tries (three in four calibrate, the fourth judges); generated
    calibration is free, so the tries calibrate on every calibration sample and are judged on 64 more generated
    samples that are neither calibration nor held out."""
    import torch

    from edgeaudio.exporters import ExportDescription, ExportJob
    from edgeaudio.pipeline.calibration_choice import JUDGING_SAMPLES, Judge
    from edgeaudio.pipeline.data import model_inputs

    data = model_inputs(None, (1, 8, 4))
    fresh = data.more(JUDGING_SAMPLES)
    assert fresh.shape == (JUDGING_SAMPLES, 1, 8, 4)
    known = np.concatenate([data.calibration, data.held_out]).reshape(-1, 32)
    assert np.min(np.abs(fresh.reshape(-1, 1, 32) - known[None]).max(axis=2)) > 0  # other draws than both sets
    torch.manual_seed(0)  # the figures below are this module's (unseeded, four inits in ten let the lumpy try pass)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32, 5), torch.nn.Softmax(-1)).eval()
    description = ExportDescription("m", "x", (1, 1, 8, 4), ("probabilities",), "probabilities", (5,))
    job = ExportJob(module, description, tmp_path, "m", data.calibration, {})
    judge = Judge(job, module, ["probabilities"], "softmax", 4.0, fresh)
    assert judge.trial is job and len(judge.samples) == JUDGING_SAMPLES
    split = Judge(job, module, ["probabilities"], "softmax", 4.0)
    assert len(split.trial.calibration) == 48 and len(split.samples) == 16
    assert not np.isin(split.samples, split.trial.calibration).all()
    # a try passes the judge only when its cosine is above the bound with 95% confidence: two of 64 samples far off
    # give cosine 0.994 but a lower bound of 0.9857, which another 64 samples can fall below; the same error spread
    # thinly over every sample passes
    reference = judge.reference["probabilities"]
    lumpy, even = reference.copy(), 0.8 * reference + 0.2 * 0.2
    lumpy[:2] = 0.3 * reference[:2] + 0.7 * 0.2
    at = judge.judge("lumpy", [lumpy], 0.0)
    assert at.cosine > 0.99 and at.cosine_low < 0.99 and not at.passed and "with 95% confidence" in at.failures[0]
    assert judge.judge("even", [even], 0.0).passed


def test_auto_keeps_the_try_with_the_widest_margin():
    from edgeaudio.pipeline.calibration_choice import CalibrationTry, Judged, best

    tries = [CalibrationTry("percentile", Judged(0.996, 1.0, True, 1.0, [], cosine_low=0.991)),
             CalibrationTry("mse", Judged(0.995, 1.0, True, 1.0, [], cosine_low=0.993))]
    assert best(tries).method == "mse"
    failing = [CalibrationTry("minmax", Judged(0.993, 1.0, False, 1.0, ["c"], cosine_low=0.980)),
               CalibrationTry("mse", Judged(0.991, 1.0, False, 1.0, ["c"], cosine_low=0.985))]
    assert best(failing).method == "mse"
