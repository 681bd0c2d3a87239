"""Time per op of a .tflite model, measured by running each op alone.

Why not the interpreter's own op profiler: TFLite has one (benchmark_model's --enable_op_profiling), but the
Python interpreters (ai-edge-litert 2.x, tflite-runtime) expose no way to attach it or read it back; their only
profiling switch, experimental_force_delegate_node_profiling, serves a profiler attached from C++. So each op is
cut out of the model into a one-op model of its own (the model's own flatbuffer schema, as ai-edge-litert ships
it: same op, same weights, same tensor types and shapes) and timed with the same interpreter, threads and
default delegate. The ops' times summed against the whole model's time says how far the parts explain the whole
(each op alone pays its own invoke overhead and starts with colder caches than inside the model).
"""

from __future__ import annotations

import copy
import statistics
import time
from pathlib import Path

import numpy as np

from edgeaudio.errors import InputError

OP_RUNS = 10  # timed runs per op after one warm-up (the median is kept)


def _schema():
    try:
        import flatbuffers
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        raise InputError("--profile needs ai-edge-litert (it ships the TFLite schema): pip install ai-edge-litert") from None
    return flatbuffers, schema


def _op_names(schema) -> dict[int, str]:
    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def one_op_models(path: Path) -> list[tuple[int, str, str, bytes]]:
    """(op index, op name, its first output tensor's name, a .tflite holding that op alone) for every op of the
    first subgraph, in execution order."""
    flatbuffers, schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
    names = _op_names(schema)
    graph = model.subgraphs[0]
    out = []
    for index, op in enumerate(graph.operators):
        used = [t for t in list(op.inputs) + list(op.outputs) if t >= 0]
        remap = {old: new for new, old in enumerate(dict.fromkeys(used))}
        buffers = [schema.BufferT()]  # buffer 0 is the empty one every non-constant tensor points at
        tensors, constant = [], set()
        for old in remap:
            tensor = copy.copy(graph.tensors[old])
            data = model.buffers[tensor.buffer].data if tensor.buffer else None
            if data is not None and len(data):
                buffers.append(model.buffers[tensor.buffer])
                tensor.buffer = len(buffers) - 1
                constant.add(old)
            else:
                tensor.buffer = 0
            tensors.append(tensor)
        alone = copy.copy(op)
        alone.inputs = [remap[t] if t >= 0 else -1 for t in op.inputs]
        alone.outputs = [remap[t] for t in op.outputs]
        alone.intermediates = None
        sub = schema.SubGraphT()
        sub.tensors, sub.operators = tensors, [alone]
        sub.inputs = [remap[t] for t in dict.fromkeys(op.inputs) if t >= 0 and t not in constant]
        sub.outputs = [remap[t] for t in op.outputs]
        one = schema.ModelT()
        one.version, one.operatorCodes, one.subgraphs, one.buffers = model.version, model.operatorCodes, [sub], buffers
        builder = flatbuffers.Builder(1024)
        builder.Finish(one.Pack(builder), file_identifier=b"TFL3")
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        name = graph.tensors[op.outputs[0]].name
        out.append((index, names.get(builtin, str(builtin)), name.decode() if isinstance(name, bytes) else name, bytes(builder.Output())))
    return out


def _time_alone(content: bytes, threads: int | None) -> float:
    from edgeaudio.quiet import captured_fds
    from edgeaudio.runtime.tflite import _interpreter_class

    cls, _ = _interpreter_class()
    with captured_fds():
        interpreter = cls(model_content=content, num_threads=threads)
        interpreter.allocate_tensors()
    rng = np.random.default_rng(0)
    for detail in interpreter.get_input_details():
        dtype = np.dtype(detail["dtype"])
        shape = [max(int(d), 1) for d in detail["shape"]]
        if dtype.kind == "f":
            value = rng.standard_normal(shape).astype(dtype)
        else:
            info = np.iinfo(dtype)
            value = rng.integers(max(info.min, -100), min(info.max, 100), size=shape, dtype=dtype)
        interpreter.set_tensor(detail["index"], value)
    interpreter.invoke()
    times = []
    for _ in range(OP_RUNS):
        start = time.perf_counter()
        interpreter.invoke()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def profile_ops(path: str | Path, threads: int | None) -> list[dict]:
    """Every op of a .tflite model timed alone (median ms), slowest first, with its share of the ops' total and
    the PyTorch module its output comes from (the manifest's layer_names). Other formats: InputError."""
    path = Path(path)
    from edgeaudio.runtime.tflite import check_tflite_file

    check_tflite_file(path)  # one line for a file that is not a TFLite flatbuffer
    from edgeaudio.runtime.manifest import manifest_path, read_manifest

    modules = read_manifest(path).layer_names if manifest_path(path).exists() else {}
    ops = []
    for index, op, tensor, content in one_op_models(path):
        try:
            ms = _time_alone(content, threads)
        except (ValueError, RuntimeError) as exc:  # an op the interpreter will not run alone: said, not hidden
            ops.append({"index": index, "op": op, "tensor": tensor, "module": modules.get(tensor), "ms": None,
                        "error": str(exc).splitlines()[0]})
            continue
        ops.append({"index": index, "op": op, "tensor": tensor, "module": modules.get(tensor), "ms": ms})
    total = sum(o["ms"] for o in ops if o["ms"] is not None) or 1.0
    for o in ops:
        o["share"] = 0.0 if o["ms"] is None else o["ms"] / total
    return sorted(ops, key=lambda o: -(o["ms"] or 0.0))
