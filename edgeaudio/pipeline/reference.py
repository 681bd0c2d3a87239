"""The original model as the parity chain's reference: its outputs in float64, and its own float32 noise.

float64 is the answer every float32 computation of the model approximates; the original's own float32 outputs
are some way from it (the noise floor), and the float gates are set from that distance (see gates.py).

One float32 evaluation is one draw of rounding noise: at the output most sensitive to rounding, the original
may by luck land close to the float64 answer while a correct conversion, another draw, lands ten times farther
(the ratio of two such draws is Cauchy-distributed). So the floor takes FLOOR_DRAWS draws: the original as it
is, and copies with each weight moved to a random float32 neighbour (one ulp, the size of the rounding the
stored weights already carry), each judged against the float64 original; the floor is the worst of them.

Speed, with the same numbers: the float64 run and the float32 draws are independent, so two jobs share them
out and run side by side, a thread each (measure_reference); and float64 depthwise convolutions are computed as
shifted multiply-adds (as_float64), since PyTorch's float64 grouped convolution loops over channels.
"""

from __future__ import annotations

import copy
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair
from torch.overrides import TorchFunctionMode

from edgeaudio.pipeline.gates import noise_floor
from edgeaudio.pipeline.torch_run import run_model


FLOOR_DRAWS = 4


@dataclass
class Reference:
    """The original model's outputs on `inputs`: float64 (`exact`) and float32 draws (the first is the original
    as it is), by output name."""

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


def measure_reference(model: nn.Module, inputs: np.ndarray, output: str, model64: nn.Module | None = None,
                      draws: int = FLOOR_DRAWS) -> Reference:
    """Run `model` (float32), `draws - 1` ulp-jittered copies of it, and its float64 copy (`model64`, made here if
    not given) on `inputs`; `output` is "logits" or "probs".

    Two jobs side by side, as even as the work allows: each runs the float64 copy on half of the inputs (whole
    batches of run_model's eight, so every sample is computed in the batch it would be in one run) and every
    other float32 draw on all of them."""
    model64 = model64 if model64 is not None else as_float64(model)
    inputs64 = inputs.astype(np.float64)
    half = 8 * -(-len(inputs) // 16)
    twin64 = copy.deepcopy(model64)  # run_model sets a model's output kind while it runs: one copy per thread

    def job(m64: nn.Module, rows: slice, seeds: range):
        exact = run_model(m64, inputs64[rows], output) if len(inputs64[rows]) else None
        return exact, [run_model(model if seed == 0 else ulp_jittered(model, seed), inputs, output) for seed in seeds]

    (exact, even), (rest, odd) = side_by_side(lambda: job(model64, slice(0, half), range(0, draws, 2)),
                                              lambda: job(twin64, slice(half, None), range(1, draws, 2)))
    if rest is not None:
        exact = {name: np.concatenate([exact[name], rest[name]]) for name in exact}
    runs = [(even if seed % 2 == 0 else odd)[seed // 2] for seed in range(draws)]  # the original first, then by seed
    return Reference(inputs, exact, runs)


def side_by_side(*jobs: Callable):
    """The jobs' results, the jobs run at once on a thread each, PyTorch's intra-op threads shared out among
    them: independent model runs keep every core busy without the per-op thread barriers that leave cores
    idle on small tensors (and stall whole ops on a loaded machine). One thread: one job after another."""
    threads = torch.get_num_threads()
    if threads < 2 or len(jobs) < 2:
        return [job() for job in jobs]
    share = max(1, threads // len(jobs))

    def run(job: Callable):
        torch.set_num_threads(share)  # OpenMP's thread count is per calling thread: set it in each worker
        return job()

    try:
        with ThreadPoolExecutor(len(jobs)) as pool:
            return [future.result() for future in [pool.submit(run, job) for job in jobs]]
    finally:
        torch.set_num_threads(threads)


@torch.no_grad()
def with_half_weights(module: nn.Module) -> nn.Module:
    """A copy of `module` whose float parameters and buffers are rounded to float16 and back: what an fp16
    export stores, computed in float32 (the fp16 step's own floor: the error weight rounding alone makes)."""
    rounded = copy.deepcopy(module).eval()
    for tensor in [*rounded.parameters(), *rounded.buffers()]:
        if tensor.dtype == torch.float32:
            tensor.copy_(tensor.half().float())
    return rounded
