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


def quantize_onnx_int8(fp32_path: str | os.PathLike, out_path: str | os.PathLike, calibration: np.ndarray,
                       float_until: tuple[str, ...] = (), calib_method: str = "minmax") -> dict:
    """Write a QDQ int8 copy of the ONNX model at `fp32_path` to `out_path`; returns facts for the manifest.
    `calib_method`: ONNX Runtime's MinMax calibrator ("minmax") or its Percentile one at the percentile the TFLite route
    uses ("percentile"); it has no MSE calibrator."""
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
            "kept_float_nodes": len(excluded), "quantize_linear_nodes": counts.get("QuantizeLinear", 0)}
