"""ONNX fp32 -> ONNX int8 with ONNX Runtime's own static quantization: QDQ format, int8 weights per channel and
int8 activations, calibrated (min-max) on the samples the other int8 targets calibrate on.

Why ONNX Runtime's tools rather than our own: they are the ones ORT's kernels are tuned for (QDQ pairs that
its graph optimizer fuses into QLinearConv / integer matmuls), and its shape pre-processing is what its
documentation asks for before quantizing.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from edgeaudio.quiet import captured_fds

from .description import ExportError

# TFLite op types the model specs name for their int8 float region, as ONNX calls them.
ONNX_OP_TYPES = {"LOG": "Log", "EXP": "Exp", "SQRT": "Sqrt", "POW": "Pow"}


class _Samples:
    """ONNX Runtime's CalibrationDataReader: one sample at a time, then None."""

    def __init__(self, input_name: str, samples: np.ndarray):
        self.input_name, self.samples, self.i = input_name, np.asarray(samples, dtype=np.float32), 0

    def get_next(self):
        if self.i >= len(self.samples):
            return None
        self.i += 1
        return {self.input_name: self.samples[self.i - 1 : self.i]}

    def rewind(self) -> None:
        self.i = 0


def float_region_nodes(model, op_types: tuple[str, ...]) -> list[str]:
    """Names of every node of a type in `op_types` (TFLite names, see ONNX_OP_TYPES) and of every node that feeds
    one: the part of the graph the model keeps float in int8 (edgeaudio's LEAN model keeps its log-energy
    front end float). Nodes without a name get one, so the quantizer can be told to leave them."""
    wanted = {ONNX_OP_TYPES.get(t, t) for t in op_types}
    for i, node in enumerate(model.graph.node):
        if not node.name:
            node.name = f"{node.op_type}_{i}"
    producer = {out: node for node in model.graph.node for out in node.output}
    region, stack = set(), [n for n in model.graph.node if n.op_type in wanted]
    while stack:
        node = stack.pop()
        if node.name in region:
            continue
        region.add(node.name)
        stack.extend(producer[i] for i in node.input if i in producer)
    return sorted(region)


def layer_nodes(model, modules: dict[str, str], names: tuple[str, ...]) -> list[str]:
    """Names of the nodes of `model` whose outputs `modules` (tensor -> PyTorch module, from the fp32 file: ONNX
    Runtime's pre-processing keeps tensor names but drops node metadata) places in one of the modules `names`."""
    from .target import in_modules

    return [node.name for node in model.graph.node if any(in_modules(modules.get(out), names) for out in node.output)]


def quantize_onnx_int8(fp32_path: str | os.PathLike, out_path: str | os.PathLike, calibration: np.ndarray,
                       float_until: tuple[str, ...] = (), calib_method: str = "minmax", float_layers: tuple[str, ...] = ()) -> dict:
    """Write a QDQ int8 copy of the ONNX model at `fp32_path` to `out_path`; returns facts for the manifest.
    `calib_method`: ONNX Runtime's MinMax calibrator ("minmax") or its Percentile one at the percentile the TFLite route
    uses ("percentile"); it has no MSE calibrator. The nodes of the PyTorch modules `float_layers` stay float
    (the quantizer's nodes_to_exclude)."""
    from .calibration_ranges import PERCENTILE

    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if calibration is None or len(calibration) == 0:
        raise ExportError("ONNX int8 needs calibration data")
    source = onnx.load(str(fp32_path))
    metadata = {p.key: p.value for p in source.metadata_props}
    input_name = source.graph.input[0].name
    with tempfile.TemporaryDirectory() as tmp:
        prepared, quantized = Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
        try:
            with captured_fds():
                quant_pre_process(source, str(prepared))
            method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile}[calib_method]
            extra = {"CalibPercentile": PERCENTILE} if calib_method == "percentile" else {}
            model = onnx.load(str(prepared))
            excluded = float_region_nodes(model, float_until) if float_until else []
            if float_until and not excluded:
                raise ExportError(f"no {'/'.join(float_until)} op found to keep float up to; the model's graph changed")
            kept = layer_nodes(model, tensor_modules(source), float_layers) if float_layers else []
            if float_layers and not kept:
                raise ExportError(f"--float-layers {','.join(float_layers)}: no ONNX node comes from these modules")
            excluded = sorted({*excluded, *kept})
            onnx.save(model, str(prepared))
            with captured_fds():
                quantize_static(str(prepared), str(quantized), _Samples(input_name, calibration), quant_format=QuantFormat.QDQ,
                                per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                                calibrate_method=method, nodes_to_exclude=excluded or None, extra_options=extra)
        except ExportError:
            raise
        except Exception as exc:  # the quantizer's failures are many types; the first line says what
            raise ExportError(f"ONNX Runtime could not quantize the model: {str(exc).strip().splitlines()[0]}") from exc
        result = onnx.load(str(quantized))
    del result.metadata_props[:]
    for key, value in {**metadata, "precision": "int8"}.items():
        result.metadata_props.add(key=key, value=value)
    onnx.save(result, str(out_path))
    counts = {}
    for node in result.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return {"quantizer": "onnxruntime.quantization.quantize_static", "format": "QDQ", "weights": "int8 per channel",
            "activations": "int8", "calibrator": str(method.name), "calibration_samples": int(len(calibration)),
            "kept_float_nodes": len(excluded), "float_layers": list(float_layers), "quantize_linear_nodes": counts.get("QuantizeLinear", 0)}


def tensor_modules(model) -> dict[str, str]:
    """Each node output's PyTorch module, from the metadata export_onnx writes on every node."""
    from .to_onnx import MODULE_KEY

    return {out: p.value for node in model.graph.node for p in node.metadata_props if p.key == MODULE_KEY for out in node.output}


def layer_losses(int8_path: str | os.PathLike, fp32_path: str | os.PathLike, samples: np.ndarray) -> list[tuple[str | None, float | None]]:
    """(PyTorch module, SQNR drop in dB) per node of the fp32 graph, in graph order: every node output of the fp32
    file against the same tensor of the QDQ int8 file (after its DequantizeLinear where it has one), both run by
    ONNX Runtime unoptimized with every intermediate kept, so the int8 file computes its QDQ pairs as written:
    the values its integer kernels approximate. The drop is the SQNR of the node's worst input less its output's."""
    import math

    import onnx

    fp32, int8 = onnx.load(str(fp32_path)), onnx.load(str(int8_path))
    modules = tensor_modules(fp32)
    produced = {out for node in int8.graph.node for out in node.output}
    wanted = [out for node in fp32.graph.node for out in node.output if out]
    pairs = {t: (f"{t}_DequantizeLinear_Output" if f"{t}_DequantizeLinear_Output" in produced else t) for t in wanted}
    pairs = {t: q for t, q in pairs.items() if q in produced}
    reference, quantized = _session(fp32, list(pairs)), _session(int8, list(pairs.values()))
    signal = dict.fromkeys(pairs, 0.0)
    noise = dict.fromkeys(pairs, 0.0)
    for i in range(len(samples)):
        expected, got = _run(reference, samples[i : i + 1]), _run(quantized, samples[i : i + 1])
        for t, q in pairs.items():
            if t in expected and q in got and expected[t].shape == got[q].shape:
                signal[t] += float(np.sum(expected[t] ** 2))
                noise[t] += float(np.sum((expected[t] - got[q]) ** 2))

    def sqnr(t: str) -> float:
        return math.inf if noise[t] == 0 else 10 * math.log10(max(signal[t], 1e-30) / noise[t])

    layers = []
    for node in fp32.graph.node:
        upstream = [sqnr(t) for t in node.input if signal.get(t)]
        for t in node.output:
            if signal.get(t):
                drop = min(upstream) - sqnr(t) if upstream and not math.isinf(min(upstream)) else None
                layers.append((modules.get(t), drop))
    return layers


def _session(model, names: list[str]):
    """An ONNX Runtime session of `model` (changed: `names` become graph outputs) with graph optimizations off,
    so every tensor is computed as the graph writes it."""
    import onnxruntime as ort

    known = {o.name for o in model.graph.output}
    for name in names:
        if name not in known:
            model.graph.output.add(name=name)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _run(session, sample: np.ndarray) -> dict[str, np.ndarray]:
    """Every float output of `session` on one sample, as float64."""
    names = [o.name for o in session.get_outputs()]
    values = session.run(names, {session.get_inputs()[0].name: np.asarray(sample, dtype=np.float32)})
    return {n: np.asarray(v, dtype=np.float64) for n, v in zip(names, values) if isinstance(v, np.ndarray) and v.dtype.kind == "f"}
