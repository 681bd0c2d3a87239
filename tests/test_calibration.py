"""int8 activation ranges other than min-max (percentile, MSE) for TFLite, through the converter's own quantizer.

The route (calibrate only, rewrite ranges, quantize) is private TensorFlow API: with the ranges left as they are
it must give the converter's own file, tensor for tensor. Chosen ranges must be the ones the file uses: never
wider than min-max, narrower where the tails are thin, and equal across the ops that must share a scale.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeaudio.cli import main


def _activations(path) -> dict[str, tuple[float, int]]:
    """Scale and zero point of every non-constant int8 tensor, by name."""
    from edgeaudio.runtime.tflite import TFLiteModel

    model = TFLiteModel(path)
    out = {}
    for t in model.interpreter.get_tensor_details():
        scale, zero_point = t["quantization"]
        if np.dtype(t["dtype"]) == np.int8 and scale and t["name"] and not t["name"].endswith(("weights", "bias")):
            out[t["name"]] = (float(scale), int(zero_point))
    return out


def _ops_with_tensors(path):
    from edgeaudio.runtime.tflite import TFLiteModel

    model = TFLiteModel(path)
    names = {t["index"]: t["name"] for t in model.interpreter.get_tensor_details()}
    return [(op["op_name"], [names[i] for i in op["inputs"] if i >= 0], [names[i] for i in op["outputs"]])
            for op in model.interpreter._get_ops_details() if op["op_name"] != "DELEGATE"]


def _op_output_scales(path) -> list[tuple[str, float]]:
    """(op, its output's scale) in graph order: separate exports name tensors differently, their ops line up."""
    scales = _activations(path)
    return [(op, scales[outputs[0]][0]) for op, _, outputs in _ops_with_tensors(path) if outputs[0] in scales]


def test_the_range_route_with_ranges_unchanged_is_the_converters_own_file(exported, trained, tmp_path):
    from edgeaudio.exporters.calibration_ranges import calibrated_graph, quantize_with_ranges
    from edgeaudio.exporters.to_tflite import onnx_to_saved_model, tflite_converter

    saved = onnx_to_saved_model(exported[0] / "int8" / "events.onnx", tmp_path)
    calibration = np.load(trained.calib_npy)[:32].transpose(0, 2, 3, 1)
    stock = tmp_path / "stock.tflite"
    stock.write_bytes(tflite_converter(saved, "int8", calibration).convert())
    ours = tmp_path / "ours.tflite"
    ours.write_bytes(quantize_with_ranges(calibrated_graph(tflite_converter(saved, "int8", calibration)), calibration, "minmax"))
    assert _activations(ours) == _activations(stock) and len(_activations(stock)) > 20
    assert [op for op, _, _ in _ops_with_tensors(ours)] == [op for op, _, _ in _ops_with_tensors(stock)]


@pytest.fixture(scope="module")
def ranged(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("ranges")
    codes = {}
    for method in ("minmax", "percentile", "mse"):
        codes[method] = main(["export", str(trained.official), "--target", "tflite", "--int8", "--calib", str(trained.calib_npy),
                              "--calib-method", method, "--labels", str(trained.labels), "--name", method, "-o", str(out)])
    return out, codes


@pytest.mark.parametrize("method", ["percentile", "mse"])
def test_chosen_ranges_are_never_wider_than_min_max_and_pass_the_gate(ranged, method):
    out, codes = ranged
    assert codes[method] == 0 and codes["minmax"] == 0
    minmax, ours = _op_output_scales(out / "minmax_int8.tflite"), _op_output_scales(out / f"{method}_int8.tflite")
    assert [op for op, _ in ours] == [op for op, _ in minmax] and len(ours) > 20
    ratios = [b / a for (op, a), (_, b) in zip(minmax, ours) if op != "SOFTMAX"]  # softmax output: fixed 1/256
    assert max(ratios) <= 1 + 1e-5  # a range is chosen inside what calibration saw
    assert sum(r < 0.95 for r in ratios) >= 3  # and is narrower where the values' tails are thin
    manifest = json.loads((out / f"{method}_int8.tflite.manifest.json").read_text())
    assert manifest["export_options"]["calib_method"] == method
    fp32 = json.loads((out / f"{method}_fp32.tflite.manifest.json").read_text())
    assert fp32["export_options"]["calib_method"] is None  # a float file records no int8 ranges
    chosen = _activations(out / f"{method}_int8.tflite")
    for op, inputs, outputs in _ops_with_tensors(out / f"{method}_int8.tflite"):
        if op in ("MAX_POOL_2D", "PAD", "RESHAPE"):  # ops the quantizer makes share their input's scale
            assert chosen[outputs[0]] == chosen[inputs[0]], op


def test_export_equalize_is_checked_exact_with_the_fold_and_recorded(trained, tmp_path):
    code = main(["export", str(trained.official), "--target", "onnx", "--equalize", "-o", str(tmp_path), "--json", str(tmp_path / "e.json")])
    assert code == 0
    chain = json.loads((tmp_path / "e.json").read_text())["chain"]
    assert chain[0]["step"] == "fold + equalize, float64" and chain[0]["passed"]
    assert chain[0]["outputs"][0]["max_abs"] < 1e-12  # exact: float64 rounding only
    manifest = json.loads((tmp_path / "checkpoint_best.onnx.manifest.json").read_text())
    assert manifest["export_options"]["equalized"] is True and manifest["export_options"]["calib_method"] is None  # fp32
