"""Per-layer int8 error of a PT2E-quantized graph: each node of the converted graph (its quantize / dequantize
pairs computed in float) against the node of the same name in the captured float graph, on the same samples.

convert_pt2e inserts quantize and dequantize nodes and keeps the names of the nodes it was given, so the two
graphs meet by name; each node knows its PyTorch module from the `nn_module_stack` torch.export records.
Written here because torchao's numeric debugger needs its handles attached before preparing, and reports
per-handle, not per-module.
"""

from __future__ import annotations

import math

import numpy as np


def _module(node) -> str | None:
    """The innermost PyTorch module a captured node comes from, as named in the model (`s4.pathway0_res2.c`)."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return None
    path = list(stack.values())[-1][0]
    return path[len("L['self'].") :] if path.startswith("L['self'].") else path


def _node_outputs(graph_module, sample) -> dict[str, np.ndarray]:
    """Every call_function node's tensor output of `graph_module` on `sample`, by node name, as float64."""
    import torch
    from torch.fx import Interpreter

    values: dict[str, np.ndarray] = {}

    class Recording(Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            if n.op == "call_function" and isinstance(out, torch.Tensor) and out.is_floating_point():
                values[n.name] = out.detach().double().numpy()
            return out

    with torch.no_grad():
        Recording(graph_module).run(torch.from_numpy(np.ascontiguousarray(sample, dtype=np.float32)))
    return values


def layer_losses(float_graph, converted, samples: np.ndarray) -> list[tuple[str | None, float | None]]:
    """(PyTorch module, SQNR drop in dB) per node of `float_graph` that `converted` also has, in graph order; the
    drop is the SQNR of the node's worst input less its output's. A node's value in `converted` is taken after
    the dequantize that follows it, where there is one (what the next layer reads)."""
    nodes = [n for n in float_graph.graph.nodes if n.op == "call_function"]
    after_dq: dict[str, str] = {}
    for n in converted.graph.nodes:  # node -> quantize -> dequantize: the dequantize's name
        if n.op == "call_function" and "dequantize" in str(n.target) and n.args and hasattr(n.args[0], "args"):
            quant = n.args[0]
            if "quantize" in str(quant.target) and quant.args and hasattr(quant.args[0], "name"):
                after_dq[quant.args[0].name] = n.name
    signal: dict[str, float] = {}
    noise: dict[str, float] = {}
    for x in np.asarray(samples, dtype=np.float32):
        expected, got = _node_outputs(float_graph, x[None]), _node_outputs(converted, x[None])
        for n in nodes:
            value = got.get(after_dq.get(n.name, n.name))
            if n.name in expected and value is not None and value.shape == expected[n.name].shape:
                signal[n.name] = signal.get(n.name, 0.0) + float(np.sum(expected[n.name] ** 2))
                noise[n.name] = noise.get(n.name, 0.0) + float(np.sum((expected[n.name] - value) ** 2))

    def sqnr(name: str) -> float:
        return math.inf if noise[name] == 0 else 10 * math.log10(max(signal[name], 1e-30) / noise[name])

    layers = []
    for n in nodes:
        if not signal.get(n.name):
            continue
        upstream = [sqnr(a.name) for a in n.all_input_nodes if signal.get(a.name)]
        drop = min(upstream) - sqnr(n.name) if upstream and not math.isinf(min(upstream)) else None
        layers.append((_module(n), drop))
    return layers
