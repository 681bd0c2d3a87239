"""The original model as the parity chain's reference: its outputs in float64, and its own float32 noise.

float64 is the answer every float32 computation of the model approximates; the original's own float32 outputs
are some way from it (the noise floor), and the float gates are set from that distance (see gates.py).

One float32 evaluation is one draw of rounding noise: at the output most sensitive to rounding, the original
may by luck land close to the float64 answer while a correct conversion, another draw, lands ten times farther
(the ratio of two such draws is Cauchy-distributed). So the floor takes FLOOR_DRAWS draws: the original as it
is, on every sample, and copies with each weight moved to a random float32 neighbour (one ulp, the size of the
rounding the stored weights already carry), on the first JITTERED_SAMPLES, each judged against the float64
original; the floor is the worst of them. The jittered draws on half of the 64 held-out samples rather than all
of them give the same floor or one at most 1.57 x lower on seven checkpoints, small and VGG-Sound size, trained
and untrained (benchmarks/floor_draws.py): correct float steps, measured at most 1.63 x the full floor, stay
well inside their 4 x bound, for 96 fewer float32 runs of a sample (160 of 256).

Speed: the float64 run and the float32 draws are independent, so their batches are shared out among threads
(torch_pool.py; the export's gate puts its other PyTorch runs in the same pool: ReferenceRuns); and float64
depthwise convolutions are computed as shifted multiply-adds (as_float64), since PyTorch's float64 grouped
convolution loops over channels.
"""

from __future__ import annotations

import copy
import threading
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair
from torch.overrides import TorchFunctionMode

from edgeaudio.pipeline.gates import noise_floor
from edgeaudio.pipeline.torch_pool import ModelRun, run_pooled
from edgeaudio.pipeline.torch_run import output_names


FLOOR_DRAWS = 4
JITTERED_SAMPLES = 32  # the jittered draws run on this many of the inputs, the first ones


@dataclass
class Reference:
    """The original model's outputs on `inputs`: float64 (`exact`) and float32 draws (the first is the original
    as it is, on every input; the jittered ones on the first JITTERED_SAMPLES), by output name."""

    inputs: np.ndarray
    exact: dict[str, np.ndarray]
    draws: list[dict[str, np.ndarray]]

    @property
    def float32(self) -> dict[str, np.ndarray]:
        return self.draws[0]

    @property
    def noise_floor(self) -> dict[str, float]:
        floors = [noise_floor(self.exact, draw) for draw in self.draws]
        return {name: max(f[name] for f in floors) for name in self.exact}


def as_float64(model: nn.Module) -> nn.Module:
    """A float64 copy of `model`, in eval mode; `model` is left as it is.

    Its forward computes depthwise convolutions as shifted multiply-adds (depthwise64), also in the copies
    made of it (a fold of it keeps the hooks): the same sums in the same order as PyTorch's own float64
    convolution (measured: identical to the last bit), which for a grouped convolution runs one small
    im2col and matrix product per channel, 22,708 of them in one batch of the VGG-Sound-size model.
    """
    model64 = copy.deepcopy(model).double().eval()
    model64.register_forward_pre_hook(_enter_depthwise64)
    model64.register_forward_hook(_exit_depthwise64, always_call=True)
    return model64


def depthwise64(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> torch.Tensor | None:
    """torch.conv2d of a float64 depthwise convolution (one filter per channel), as the bias plus each kernel
    tap's weight times the input shifted by that tap; None for any other convolution (left to PyTorch)."""
    if input.dtype != torch.float64 or input.dim() != 4 or isinstance(padding, str) or groups == 1:
        return None
    n, channels, height, width = input.shape
    if weight.shape[:2] != (channels, 1) or groups != channels:
        return None
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = weight.shape[2:], _pair(stride), _pair(padding), _pair(dilation)
    x = F.pad(input, (pw, pw, ph, ph))
    out_h, out_w = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = input.new_zeros(n, channels, out_h, out_w)
    if bias is not None:
        out += bias.view(1, channels, 1, 1)
    for i in range(kh):
        for j in range(kw):
            tap = x[:, :, i * dh : i * dh + sh * (out_h - 1) + 1 : sh, j * dw : j * dw + sw * (out_w - 1) + 1 : sw]
            out.addcmul_(tap, weight[:, :, i, j].view(1, channels, 1, 1))
    return out


class _Depthwise64(TorchFunctionMode):
    """Routes torch.conv2d through depthwise64 (PyTorch's documented hook for overriding its functions)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.conv2d:
            out = depthwise64(*args, **kwargs)
            if out is not None:
                return out
        return func(*args, **kwargs)


_modes = threading.local()  # the modes entered by forwards in progress, per thread (modes are per thread too)


def _enter_depthwise64(_module, _args) -> None:
    mode = _Depthwise64()
    mode.__enter__()
    _modes.__dict__.setdefault("stack", []).append(mode)


def _exit_depthwise64(_module, _args, _output) -> None:
    _modes.stack.pop().__exit__(None, None, None)


@torch.no_grad()
def ulp_jittered(model: nn.Module, seed: int) -> nn.Module:
    """A copy of float32 `model` with every float parameter and buffer moved to a random float32 neighbour."""
    jittered = copy.deepcopy(model).eval()
    generator = torch.Generator().manual_seed(seed)
    for tensor in [*jittered.parameters(), *jittered.buffers()]:
        if tensor.dtype == torch.float32:
            direction = torch.where(torch.rand(tensor.shape, generator=generator) < 0.5, -torch.inf, torch.inf)
            tensor.copy_(torch.nextafter(tensor, direction))
    return jittered


class ReferenceRuns:
    """The model runs a Reference is made of: the float64 copy (`model64`, made here if not given) and FLOOR_DRAWS
    float32 draws (`model` itself, then ulp-jittered copies on the first `jittered` inputs), on `inputs`; `output`
    is "logits" or "probs".
    Their batches can share one pool with other runs (torch_pool.run_pooled): `runs`, inside `outputs_set()`."""

    def __init__(self, model: nn.Module, inputs: np.ndarray, output: str, model64: nn.Module | None = None,
                 draws: int = FLOOR_DRAWS, jittered: int = JITTERED_SAMPLES):
        self.inputs, self.output = inputs, output
        self.model64 = model64 if model64 is not None else as_float64(model)
        self.models = [model, *(ulp_jittered(model, seed) for seed in range(1, draws))]
        self.names = output_names(model, "logits" if output == "logits" else "probabilities")
        self.runs = [ModelRun(self.model64, inputs.astype(np.float64)), ModelRun(model, inputs),
                     *(ModelRun(m, inputs[:jittered]) for m in self.models[1:])]

    def outputs_set(self, *others: nn.Module):
        """The runs' models (and `others`) in eval mode with this output kind, as they were afterwards."""
        return outputs_set([self.model64, *self.models, *others], self.output)

    def reference(self, outputs: list[list[np.ndarray]]) -> Reference:
        """The Reference from run_pooled's outputs of `runs`, in their order."""
        exact, *draws = [dict(zip(self.names, out)) for out in outputs]
        return Reference(self.inputs, exact, draws)


def measure_reference(model: nn.Module, inputs: np.ndarray, output: str, model64: nn.Module | None = None,
                      draws: int = FLOOR_DRAWS, jittered: int = JITTERED_SAMPLES) -> Reference:
    """The Reference of `model` on `inputs` (see ReferenceRuns), its runs shared out among PyTorch's threads."""
    runs = ReferenceRuns(model, inputs, output, model64, draws, jittered)
    with runs.outputs_set():
        return runs.reference(run_pooled(runs.runs))


@contextmanager
def outputs_set(models: list[nn.Module], output: str):
    """`models` in eval mode with output kind `output` ("logits" or "probs") while the block runs, then as they
    were: their forwards may then run on several threads at once (nothing in them changes)."""
    before = [(m, m.output, m.training) for m in models]
    for m in models:
        m.eval().set_output(output)
    try:
        yield
    finally:
        for m, kind, training in reversed(before):
            m.set_output(kind).train(training)


@torch.no_grad()
def with_half_weights(module: nn.Module) -> nn.Module:
    """A copy of `module` whose float parameters and buffers are rounded to float16 and back: what an fp16
    export stores, computed in float32 (the fp16 step's own floor: the error weight rounding alone makes)."""
    rounded = copy.deepcopy(module).eval()
    for tensor in [*rounded.parameters(), *rounded.buffers()]:
        if tensor.dtype == torch.float32:
            tensor.copy_(tensor.half().float())
    return rounded
