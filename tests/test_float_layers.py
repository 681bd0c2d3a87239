"""--float-layers: int8 files that keep chosen layers in float, named by PyTorch module, in every int8 target.

The case: the tests' trained classifier with one class given a logit bias of -3000 (a class it never predicts).
In float nothing changes; in full int8 that logit sets the logits' 8-bit scale, the live logits collapse onto
a few steps and the gate fails whatever the range method. Keeping the head in float is the cure, and the
search must find it, ranked first by the SQNR it loses, at a tiny share of the MACs.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeaudio.cli import main


@pytest.fixture(scope="module")
def dead_class(trained, tmp_path_factory):
    import torch

    from edgeaudio.checkpoint import load_checkpoint, save_official

    loaded = load_checkpoint(trained.official)
    with torch.no_grad():
        loaded.model.head.projection.bias[0] -= 3000.0
    return save_official(loaded.model.eval(), tmp_path_factory.mktemp("dead") / "dead.pyth", epoch=1)


def _export(checkpoint, calib, out, *args) -> tuple[int, dict]:
    code = main(["export", str(checkpoint), "--calib", str(calib), "-o", str(out), "--json", str(out) + ".json", *args])
    return code, json.loads((out.parent / (out.name + ".json")).read_text())


def _int8_step(report: dict) -> dict:
    return [p for p in report["plan"] if p["precision"] == "int8"][0]


@pytest.fixture(scope="module")
def tflite_auto(dead_class, trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("auto") / "out"
    return out, *_export(dead_class, trained.calib_npy, out, "--target", "tflite", "--int8")


def test_with_no_flags_tflite_int8_keeps_the_head_float_and_passes(tflite_auto):
    from edgeaudio.runtime.manifest import read_manifest
    from edgeaudio.runtime.tflite import TFLiteModel

    out, code, report = tflite_auto
    step = _int8_step(report)
    assert code == 0 and report["passed"]
    assert [t["passed"] for t in step["tries"]] == [False, False, False]  # no range method alone passes
    search = step["float_layer_search"]
    assert search["ranking"][0]["module"] == "head" and search["ranking"][0]["macs_share"] < 0.01
    assert search["chosen"] == ["head"] and [t["layers"] for t in search["tries"]] == [["head"]]
    manifest = read_manifest(out / "dead_int8.tflite")
    assert manifest.export_options["float_layers"] == ["head"]
    model = TFLiteModel(out / "dead_int8.tflite")
    assert [np.dtype(d["dtype"]) for d in (*model.inputs, *model.outputs)] == [np.int8, np.int8]  # the ends stay int8
    tensors = {t["index"]: t for t in model.interpreter.get_tensor_details()}
    dtype_out = {op["op_name"]: np.dtype(tensors[op["outputs"][0]]["dtype"]) for op in model.interpreter._get_ops_details()}
    assert dtype_out["FULLY_CONNECTED"] == np.float32 and dtype_out["SOFTMAX"] == np.float32  # the head, in float
    assert dtype_out["CONV_2D"] == np.int8 and dtype_out["DEPTHWISE_CONV_2D"] == np.int8  # the body, in int8


def test_the_export_report_draws_the_layers_tried(tflite_auto):
    out, _, _ = tflite_auto
    page = (out / "dead.report.html").read_text()
    assert "Layers kept in float: tflite-int8" in page and "SQNR lost, dB" in page


def test_without_float_layers_it_fails_and_names_what_it_tried(dead_class, trained, tmp_path):
    code, report = _export(dead_class, trained.calib_npy, tmp_path / "out", "--target", "tflite", "--int8", "--float-layers", "none")
    assert code == 1 and not report["models"] and not list((tmp_path / "out").glob("*.tflite"))
    assert "ranges tried on calibration samples: minmax" in report["failure"] and "mse" in report["failure"]
    assert _int8_step(report)["float_layer_search"] is None


def test_named_float_layers_leave_the_onnx_runtime_head_unquantized(dead_class, trained, tmp_path):
    import onnx

    code, report = _export(dead_class, trained.calib_npy, tmp_path / "out", "--target", "onnx", "--int8", "--float-layers", "head",
                           "--calib-method", "minmax")
    assert code == 0 and _int8_step(report)["float_layers"] == ["head"] and _int8_step(report)["float_layer_search"] is None
    model = onnx.load(str(tmp_path / "out" / "dead_int8.onnx"))
    producer = {out: node.op_type for node in model.graph.node for out in node.output}
    gemm = [n for n in model.graph.node if n.op_type == "Gemm"][0]
    assert [producer.get(i) for i in gemm.input if i in producer] in ([], ["ReduceMean"])  # float weights, float input
    assert sum(n.op_type == "QuantizeLinear" for n in model.graph.node) > 20  # the body is quantized


@pytest.mark.slow
def test_executorch_ranks_its_layers_from_the_pt2e_graph_and_keeps_the_head_float(dead_class, trained, tmp_path):
    code, report = _export(dead_class, trained.calib_npy, tmp_path / "out", "--target", "executorch", "--int8", "--calib-method", "minmax")
    search = _int8_step(report)["float_layer_search"]
    assert code == 0 and search["ranking"][0]["module"] == "head" and search["chosen"] == ["head"]
    facts = json.loads((tmp_path / "out" / "dead_int8.pte.manifest.json").read_text())["export_options"]["executorch"]["files"]["int8"]
    assert facts["float_layers"] == ["head"]


def test_a_layer_the_model_does_not_have_is_refused_in_one_line(dead_class, tmp_path, capsys):
    code = main(["export", str(dead_class), "--target", "tflite", "--int8", "--float-layers", "head,s9.nothing", "-o", str(tmp_path / "out")])
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("[")]
    assert code == 2 and len(err) == 1 and "--float-layers s9.nothing: no such module" in err[0] and "dead.pyth" in err[0], err


def test_float_layers_without_int8_is_refused_before_any_work(tmp_path, capsys):
    code = main(["export", str(tmp_path / "missing.pyth"), "--target", "tflite", "--float-layers", "head"])
    assert code == 2 and "no int8 file is asked for" in capsys.readouterr().err


def test_module_macs_count_what_the_exported_graph_counts(dead_class, tflite_auto):
    from edgeaudio.checkpoint import load_checkpoint
    from edgeaudio.fold import fold_model
    from edgeaudio.pipeline.float_layers import module_macs
    from edgeaudio.runtime.graph_counts import tflite_counts
    from edgeaudio.runtime.tflite import TFLiteModel

    out, _, _ = tflite_auto
    loaded = load_checkpoint(dead_class)
    module = loaded.spec.exportable(fold_model(loaded.model), "probs")
    macs = module_macs(module, np.zeros((1, *loaded.config.input_shape[1:]), np.float32))
    assert sum(macs.values()) == tflite_counts(TFLiteModel(out / "dead_fp32.tflite").interpreter)[1]
    assert set(macs) >= {"head.projection", "s1.pathway0_stem.conv"}


class _Judge:
    """A stand-in for calibration_choice.Judge: a set passes when it holds every layer in `needed`."""

    trial, samples = "trial-job", np.zeros((4, 1))

    def __init__(self, needed: set[str]):
        self.needed = needed

    def judge(self, label, outputs, started):
        from edgeaudio.pipeline.calibration_choice import Judged

        good = self.needed <= set(outputs[0])
        return Judged(1.0 if good else 0.5, 1.0 if good else 0.0, good, 0.0, [] if good else ["cosine"])


def _search(needed: set[str], losses: dict[str, float], macs: dict[str, int], budget: float = 0.1):
    from edgeaudio.pipeline.float_layers import search

    written = []

    def export(layers, job):
        written.append(tuple(layers))
        return layers

    return search(export, lambda path, _x: [list(path)], lambda _p, _x: losses, _Judge(needed), macs, budget), written


def test_search_adds_layers_worst_first_within_the_budget_then_drops_the_ones_not_needed():
    macs = {"a.conv": 50, "b.conv": 5, "c.conv": 5, "head.projection": 1, "body": 939}
    losses = {"a": 9.0, "b": 6.0, "c": 3.0, "head": 1.0}
    choice, _ = _search({"c", "head"}, losses, macs)
    # a (5% of the MACs... here 50/1000) fits the 10% budget; the passing set a+b+c+head is pruned back to c+head
    assert [t.layers for t in choice.tries][:4] == [["a"], ["a", "b"], ["a", "b", "c"], ["a", "b", "c", "head"]]
    assert choice.chosen == ("c", "head") and choice.tries[-1].passed
    assert all(t.macs_share <= 0.1 for t in choice.tries)


def test_search_skips_layers_over_the_budget_and_says_why_when_nothing_passes():
    macs = {"a.conv": 500, "b.conv": 10, "rest": 490}
    choice, _ = _search({"a"}, {"a": 9.0, "b": 1.0}, macs)
    assert [t.layers for t in choice.tries] == [["b"]] and choice.chosen is None
    assert "no set of layers within 10% of the MACs passed in 1 tries" == choice.why
