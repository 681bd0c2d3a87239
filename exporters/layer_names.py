"""Which PyTorch module each tensor of a converted TFLite graph comes from, so a per-layer report can say
`s4.pathway0_res2.branch2.c` instead of `model_2/tf.nn.convolution_51/convolution;Const_31`.

Neither onnx2tf nor the TFLite converter carries ONNX node names into TFLite tensor names, so the two graphs are
matched by what they compute: both are run on the same sample, every ONNX node output with all intermediates
kept (ONNX Runtime) and every TFLite tensor (the interpreter with all tensors preserved), and a TFLite tensor
takes the module of the ONNX node output holding the same values (in NHWC where the ONNX tensor is NCHW).
ONNX nodes know their module from the exporter's name scopes (to_onnx.MODULE_KEY). A ReLU the converter fused
into the op before it takes that op's module: the TFLite tensor holds the activated values. Written by hand
because no converter offers it: onnx2tf's own check (-cotof) compares values by name, which is what is missing.
"""

from __future__ import annotations

import os

import numpy as np

FUSED = ("Relu", "Clip", "LeakyRelu", "Sigmoid")  # activations a TFLite op absorbs into the one before it


def _onnx_outputs(onnx_path, sample: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Every node output's value on `sample` (NCHW or as the model takes it), and each output's module."""
    import onnx
    import onnxruntime as ort

    from .to_onnx import MODULE_KEY

    model = onnx.load(str(onnx_path))
    producer = {out: node for node in model.graph.node for out in node.output}
    modules: dict[str, str] = {}
    for node in model.graph.node:
        module = next((p.value for p in node.metadata_props if p.key == MODULE_KEY), "")
        if node.op_type in FUSED and node.input and node.input[0] in producer:
            module = next((p.value for p in producer[node.input[0]].metadata_props if p.key == MODULE_KEY), module)
        for out in node.output:
            modules[out] = module
    known = {o.name for o in model.graph.output}
    for node in model.graph.node:
        for out in node.output:
            if out and out not in known:
                model.graph.output.add(name=out)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every node's output
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    values = session.run(names, {session.get_inputs()[0].name: sample})
    return {n: np.asarray(v) for n, v in zip(names, values) if isinstance(v, np.ndarray) and v.dtype.kind == "f"}, modules


def _layouts(value: np.ndarray) -> list[np.ndarray]:
    """The value as ONNX holds it, and in the NHWC layout onnx2tf gives a 4-D NCHW tensor."""
    return [value, value.transpose(0, 2, 3, 1)] if value.ndim == 4 else [value]


def tflite_layer_names(onnx_path: str | os.PathLike, tflite_path: str | os.PathLike, sample: np.ndarray) -> dict[str, str]:
    """TFLite tensor name -> PyTorch module, for every op output of the float TFLite file whose values match an
    ONNX node output's; `sample` is one NCHW (or waveform) input as PyTorch takes it."""
    from edgeaudio.runtime.tflite import TFLiteModel

    sample = np.asarray(sample, dtype=np.float32)[:1]
    onnx_values, modules = _onnx_outputs(onnx_path, sample)
    by_size: dict[int, list[tuple[str, np.ndarray]]] = {}
    for name, value in onnx_values.items():
        if modules.get(name):
            for layout in _layouts(value):
                by_size.setdefault(layout.size, []).append((name, layout))
    tflite = TFLiteModel(tflite_path, preserve_all_tensors=True)
    detail = tflite.inputs[0]
    x = sample.transpose(0, 2, 3, 1) if sample.ndim == 4 and tuple(detail["shape"]) != sample.shape else sample
    tflite.interpreter.set_tensor(detail["index"], np.ascontiguousarray(x))
    tflite.interpreter.invoke()
    tensors = {t["index"]: t for t in tflite.interpreter.get_tensor_details()}
    ops = [op for op in tflite.interpreter._get_ops_details() if op["op_name"] != "DELEGATE"]
    names: dict[str, str] = {}
    for op in ops:
        for index in op["outputs"]:
            detail = tensors[index]
            got = tflite.interpreter.get_tensor(index)
            if got.dtype.kind != "f":
                continue
            scale = float(np.max(np.abs(got))) or 1.0
            for name, value in by_size.get(got.size, []):
                if value.shape == got.shape and np.max(np.abs(value - got)) <= 1e-4 * scale:
                    names[detail["name"]] = modules[name]
                    break
    consumers: dict[int, list] = {}
    for op in ops:
        for index in op["inputs"]:
            consumers.setdefault(index, []).append(op)
    for op in reversed(ops):  # what ONNX does inside an op (a conv's padding) is its own op here: name it by its consumer
        for index in op["outputs"]:
            after = consumers.get(index, [])
            outs = [tensors[i]["name"] for c in after for i in c["outputs"]]
            if tensors[index]["name"] not in names and len(after) == 1 and outs and outs[0] in names:
                names[tensors[index]["name"]] = names[outs[0]]
    return names
