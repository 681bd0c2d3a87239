"""YAMNet's official Keras weights (`yamnet.h5`) mapped onto edgeaudio's PyTorch keys.

The official model (tensorflow/models research/audioset/yamnet/yamnet.py) names its weighted Keras layers
`layer1/conv`, `layer1/conv/bn`, and for N = 2..14 `layerN/depthwise_conv`, `layerN/depthwise_conv/bn`,
`layerN/pointwise_conv`, `layerN/pointwise_conv/bn`; the classifier is one Dense layer with a bias, called
`logits` in the published file and Keras's default name (`dense`, `dense_1`, ...) when yamnet.py's current
code saves it. Keras's own load_weights matches layers by order, so the Dense layer's name is not part of the
contract; its role (the only other layer, a 2-D kernel and a bias) is.

Kernel layouts: Conv2D (kh, kw, in, out) -> PyTorch (out, in, kh, kw); DepthwiseConv2D (kh, kw, channels, 1)
-> (channels, 1, kh, kw); Dense (in, out) -> (out, in). Batch norms carry beta, moving mean and variance only
(center=True, scale=False). Input: {layer name: {weight name: array}} as edgeaudio.checkpoint.reader reads it;
output: a training-form state dict. Every weight must be used and every expected one present.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from edgeaudio.errors import CheckpointError
from edgeaudio.models.yamnet.config import LAYERS, scaled_channels

FRONTEND_PRESET = "yamnet"  # the features the official weights were trained on
BATCH_NORM_WEIGHTS = {"beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}


def _short(weight_name: str) -> str:
    """'layer1/conv/bn/moving_mean:0' -> 'moving_mean'."""
    return weight_name.rsplit("/", 1)[-1].split(":", 1)[0]


def _backbone_layers(width: float, in_channels: int) -> dict[str, tuple[str, dict[str, tuple[int, ...]]]]:
    """Keras layer name -> (PyTorch module name, {Keras weight: expected Keras shape}) for every backbone layer."""
    expected: dict[str, tuple[str, dict[str, tuple[int, ...]]]] = {}
    c_in = in_channels
    for i, (kind, _stride, filters) in enumerate(LAYERS, start=1):
        c_out = scaled_channels(filters, width)
        if kind == "conv":
            convs = [("conv", "kernel", (3, 3, c_in, c_out), c_out)]
        else:
            convs = [("depthwise_conv", "depthwise_kernel", (3, 3, c_in, 1), c_in),
                     ("pointwise_conv", "kernel", (1, 1, c_in, c_out), c_out)]
        for conv, kernel, shape, out in convs:
            expected[f"layer{i}/{conv}"] = (f"layer{i}.{conv}", {kernel: shape})
            expected[f"layer{i}/{conv}/bn"] = (f"layer{i}.{conv}_bn", {w: (out,) for w in BATCH_NORM_WEIGHTS})
        c_in = c_out
    return expected


def recognises(layers: Mapping[str, Mapping[str, np.ndarray]]) -> bool:
    """Whether a Keras weights file's layers are named the way YAMNet's are (first and last backbone layer)."""
    return "layer1/conv" in layers and f"layer{len(LAYERS)}/pointwise_conv" in layers


def _head_layer(layers: Mapping[str, Mapping[str, np.ndarray]], backbone: set[str]) -> str:
    others = [name for name in layers if name not in backbone]
    heads = [name for name in others if sorted(map(_short, layers[name])) == ["bias", "kernel"] and all(
        np.ndim(w) == (2 if _short(k) == "kernel" else 1) for k, w in layers[name].items())]
    if not heads:
        raise CheckpointError("has no classifier layer: YAMNet ends in a Dense layer with a 2-D kernel and a bias")
    if len(others) > 1:
        raise CheckpointError(f"has layers YAMNet does not have: {', '.join(n for n in others if n != heads[0])}")
    return heads[0]


def _to_torch(short: str, array: np.ndarray) -> np.ndarray:
    """One Keras weight in PyTorch's layout."""
    if short == "kernel" and array.ndim == 4:
        return array.transpose(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)
    if short == "depthwise_kernel":
        return array.transpose(2, 3, 0, 1)  # (kh, kw, channels, 1) -> (channels, 1, kh, kw)
    if short == "kernel" and array.ndim == 2:
        return array.T  # (in, out) -> (out, in)
    return array


def state_from_keras(layers: Mapping[str, Mapping[str, np.ndarray]]) -> dict:
    """A training-form YAMNet state dict (torch tensors, float32) from the weights of its Keras layers.

    Width, input channels and classes follow from the shapes (layer1's kernel, the Dense kernel); every other
    shape must then agree. Raises CheckpointError (one line, without the file name) naming the first problem.
    """
    import torch

    first = layers.get("layer1/conv", {})
    kernel = next((w for k, w in first.items() if _short(k) == "kernel"), None)
    if kernel is None or np.ndim(kernel) != 4 or kernel.shape[:2] != (3, 3):
        found = "none" if kernel is None else str(tuple(np.shape(kernel)))
        raise CheckpointError(f"layer1/conv has no (3, 3, in, out) kernel (found {found}); not YAMNet's weights")
    width, in_channels = kernel.shape[3] / LAYERS[0][2], int(kernel.shape[2])
    expected = _backbone_layers(width, in_channels)
    missing = [name for name in expected if name not in layers]
    if missing:
        more = f", ... ({len(missing)} in all)" if len(missing) > 3 else ""
        raise CheckpointError(f"lacks YAMNet's Keras layers {', '.join(missing[:3])}{more}")
    head = _head_layer(layers, set(expected))

    state: dict[str, torch.Tensor] = {}
    for name, (module, shapes) in expected.items():
        weights = {_short(k): np.asarray(w) for k, w in layers[name].items()}
        extra = sorted(set(weights) - set(shapes))
        if extra:
            why = " (YAMNet's batch norms have no scale)" if "gamma" in extra else ""
            raise CheckpointError(f"layer {name} has weights YAMNet does not have: {', '.join(extra)}{why}")
        for short, shape in shapes.items():
            if short not in weights:
                raise CheckpointError(f"layer {name} lacks its {short} weight")
            if tuple(weights[short].shape) != shape:
                raise CheckpointError(f"{name} {short} has shape {tuple(weights[short].shape)}; YAMNet needs {shape} here")
            key = f"{module}.{BATCH_NORM_WEIGHTS.get(short, 'weight')}"
            state[key] = _tensor(torch, _to_torch(short, weights[short]), name)

    dense = {_short(k): np.asarray(w) for k, w in layers[head].items()}
    embedding = scaled_channels(LAYERS[-1][2], width)
    if dense["kernel"].shape[0] != embedding or dense["bias"].shape != dense["kernel"].shape[1:]:
        raise CheckpointError(
            f"{head} kernel {tuple(dense['kernel'].shape)} and bias {tuple(dense['bias'].shape)} do not fit a "
            f"{embedding}-d embedding: YAMNet needs ({embedding}, classes) and (classes,)"
        )
    state["head.logits.weight"] = _tensor(torch, _to_torch("kernel", dense["kernel"]), head)
    state["head.logits.bias"] = _tensor(torch, dense["bias"], head)
    return state


def _tensor(torch, array: np.ndarray, layer: str):
    if not np.issubdtype(array.dtype, np.floating):
        raise CheckpointError(f"layer {layer} holds {array.dtype} weights, not floating point")
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
