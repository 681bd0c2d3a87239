"""Where an int8 model loses accuracy: per-tensor SQNR of the int8 model against its float twin.

Both TFLite files come from the same SavedModel, so every op output has the same tensor name in both. Each is
run with all intermediate tensors kept; every int8 tensor is dequantized with its own scale and zero point
and compared with the float tensor of the same name. SQNR = 10 log10(sum float^2 / sum (int8 - float)^2),
accumulated over the samples. The figure at a tensor is cumulative (everything upstream contributes); a drop
from one layer to the next points at the layer that lost it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from edgeaudio.errors import InputError


@dataclass(frozen=True)
class LayerError:
    op_index: int
    op: str
    tensor: str
    shape: list[int]
    sqnr_db: float
    scale: float | None
    drop_db: float | None  # SQNR lost since the op's first matched input (None for the first layer)
    module: str | None = None  # the PyTorch module the op comes from, when the manifest records it

    def to_dict(self) -> dict:
        data = asdict(self)
        data["sqnr_db"] = None if math.isinf(self.sqnr_db) else self.sqnr_db
        return data


def _op_outputs(interpreter) -> list[tuple[int, str, list[int], list[int]]]:
    return [
        (op["index"], op["op_name"], list(op["inputs"]), list(op["outputs"]))
        for op in interpreter._get_ops_details()
        if op["op_name"] != "DELEGATE"
    ]


def per_layer_sqnr(int8_path, float_path, inputs_nhwc: np.ndarray, modules: dict[str, str] | None = None) -> list[LayerError]:
    """SQNR of every int8 op output against the float model's same-named tensor, in execution order; `modules`
    (a manifest's layer_names) names each op by the PyTorch module it comes from."""
    from edgeaudio.runtime.tflite import TFLiteModel, quantize

    quant = TFLiteModel(int8_path, preserve_all_tensors=True)
    ref = TFLiteModel(float_path, preserve_all_tensors=True)
    q_tensors = {t["index"]: t for t in quant.interpreter.get_tensor_details()}
    f_by_name = {t["name"]: t for t in ref.interpreter.get_tensor_details()}
    q_out = {d["index"]: k for k, d in enumerate(quant.outputs)}
    f_out = {k: d["index"] for k, d in enumerate(ref.outputs)}
    ops = _op_outputs(quant.interpreter)
    pairs: dict[int, int] = {}
    for _, _, _, outs in ops:
        for t in outs:
            if t in q_out:  # graph outputs are named differently by the converter entry points; match by position
                pairs[t] = f_out[q_out[t]]
            elif q_tensors[t]["name"] in f_by_name:
                pairs[t] = f_by_name[q_tensors[t]["name"]]["index"]
    if not pairs:
        raise InputError("shares no tensor names with its float model; both must come from one export", int8_path)
    signal = {t: 0.0 for t in pairs}
    noise = {t: 0.0 for t in pairs}
    q_in, f_in = quant.inputs[0], ref.inputs[0]
    for i in range(len(inputs_nhwc)):
        x = inputs_nhwc[i : i + 1].astype(np.float32)
        quant.interpreter.set_tensor(q_in["index"], quantize(x, q_in))
        ref.interpreter.set_tensor(f_in["index"], x)
        quant.interpreter.invoke()
        ref.interpreter.invoke()
        for t, ft in pairs.items():
            expected = ref.interpreter.get_tensor(ft).astype(np.float64)
            got = quant.interpreter.get_tensor(t)
            scale, zero_point = q_tensors[t]["quantization"]
            if got.dtype.kind in "iu" and scale:
                got = (got.astype(np.float64) - zero_point) * scale
            signal[t] += float(np.sum(expected**2))
            noise[t] += float(np.sum((expected - got.astype(np.float64)) ** 2))

    def sqnr(t: int) -> float:
        return math.inf if noise[t] == 0 else 10 * math.log10(max(signal[t], 1e-30) / noise[t])

    layers = []
    for index, op, ins, outs in ops:
        upstream = [sqnr(t) for t in ins if t in pairs]
        for t in outs:
            if t not in pairs:
                continue
            scale = q_tensors[t]["quantization"][0] or None
            value = sqnr(t)
            drop = (min(upstream) - value) if upstream and not math.isinf(min(upstream)) else None
            name = q_tensors[t]["name"]
            layers.append(LayerError(index, op, name, [int(s) for s in q_tensors[t]["shape"]], value, scale, drop, (modules or {}).get(name)))
    return layers



def input_rounding_outputs(int8_input: dict, float_path, inputs: np.ndarray, clean: list[np.ndarray] | None = None,
                           threads: int | None = None) -> tuple[float, list[np.ndarray], list[np.ndarray]] | None:
    """(the int8 input's step, the float twin's outputs on `inputs`, its outputs on the same inputs rounded to
    the int8 model's input grid, `int8_input` being that input's interpreter details): the part of the int8
    error no converter setting can remove, because the float model itself moves that much. None when the int8
    model takes float input (see int8_float_until). `clean`: the twin's outputs on `inputs`, when already run;
    `threads`: the twin's (the runtime's default when None)."""
    from edgeaudio.runtime.runner import Runner
    from edgeaudio.runtime.tflite import dequantize, quantize

    if np.dtype(int8_input["dtype"]).kind == "f":
        return None
    x = np.asarray(inputs, dtype=np.float32)  # one scale for the whole tensor: the layout does not matter
    twin = Runner(float_path, threads)
    return (float(int8_input["quantization"][0]), twin.run(x) if clean is None else clean,
            twin.run(dequantize(quantize(x, int8_input), int8_input)))
