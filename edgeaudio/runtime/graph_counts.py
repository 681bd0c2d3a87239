"""Parameters and MACs counted from an exported graph itself, not from the PyTorch model it came from.

Counting rule (one multiply-accumulate per weight use, batch as exported):
- CONV_2D: output elements x kernel height x kernel width x input channels per group;
- DEPTHWISE_CONV_2D: output elements x kernel height x kernel width;
- FULLY_CONNECTED: output elements x input features; BATCH_MATMUL: output elements x the shared dimension.
Other ops (pooling, adds, activations, softmax) are not counted. Parameters are the elements of constant
tensors: op inputs that no op produces and that are not graph inputs (weights and biases; an fp16 model's
float16 constants are counted once, not again after DEQUANTIZE).
"""

from __future__ import annotations

import math

GRAPH_COUNTING_RULE = (
    "MACs from the exported graph: conv (out x kh x kw x in/group), depthwise (out x kh x kw), "
    "fully connected / matmul (out x inner); params = elements of constant tensors"
)


def tflite_counts(interpreter) -> tuple[int, int]:
    """(parameters, MACs) of a TFLite interpreter's graph."""
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = [op for op in interpreter._get_ops_details() if op["op_name"] != "DELEGATE"]
    produced = {t for op in ops for t in op["outputs"]}
    graph_inputs = {d["index"] for d in interpreter.get_input_details()}

    def shape(index: int) -> list[int]:
        return [int(s) for s in tensors[index]["shape"]]

    macs = 0
    for op in ops:
        name, ins, outs = op["op_name"], list(op["inputs"]), list(op["outputs"])
        if not outs or len(ins) < 2 or ins[1] < 0:
            continue
        out_elements = math.prod(shape(outs[0]))
        weight = shape(ins[1])
        if name == "CONV_2D" and len(weight) == 4:
            macs += out_elements * weight[1] * weight[2] * weight[3]
        elif name == "DEPTHWISE_CONV_2D" and len(weight) == 4:
            macs += out_elements * weight[1] * weight[2]
        elif name == "FULLY_CONNECTED" and len(weight) == 2:
            macs += out_elements * weight[1]
        elif name == "BATCH_MATMUL":
            macs += out_elements * shape(ins[0])[-1]
    constants = {t for op in ops for t in op["inputs"] if t >= 0 and t not in produced and t not in graph_inputs}
    params = sum(math.prod(shape(t)) for t in constants)
    return params, macs


def onnx_counts(path) -> tuple[int | None, int | None]:
    """(parameters, MACs) of an ONNX file, or (None, None) without the onnx package (it is optional on a device)."""
    try:
        import onnx
        from onnx import shape_inference
    except ImportError:
        return None, None
    model = shape_inference.infer_shapes(onnx.load(str(path)))
    graph = model.graph
    inits = {i.name: list(i.dims) for i in graph.initializer}
    shapes = dict(inits)
    for value in list(graph.value_info) + list(graph.output) + list(graph.input):
        dims = [d.dim_value if d.dim_value > 0 else 1 for d in value.type.tensor_type.shape.dim]
        shapes[value.name] = dims
    macs = 0
    for node in graph.node:
        out = shapes.get(node.output[0]) if node.output else None
        if out is None or len(node.input) < 2 or node.input[1] not in shapes:
            continue
        weight = shapes[node.input[1]]
        if node.op_type == "Conv" and len(weight) == 4:
            macs += math.prod(out) * weight[1] * weight[2] * weight[3]
        elif node.op_type == "Gemm" and len(weight) == 2:
            trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
            macs += math.prod(out) * (weight[1] if trans_b else weight[0])
        elif node.op_type == "MatMul":
            macs += math.prod(out) * weight[-2]
    params = sum(math.prod(dims) for dims in inits.values())
    return params, macs


def onnx_precision(path) -> str | None:
    """"int8" for a quantized ONNX graph (QDQ pairs or QLinear / integer ops), "fp32" otherwise; None without
    the onnx package. Its input and output stay float either way, so the dtypes cannot tell."""
    try:
        import onnx
    except ImportError:
        return None
    ops = {node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node}
    quantized = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger"}
    return "int8" if ops & quantized else "fp32"
