"""The original model as the parity chain's reference: its outputs in float64, and its own float32 noise.

float64 is the answer every float32 computation of the model approximates; the original's own float32 outputs
are some way from it (the noise floor), and the float gates are set from that distance (see gates.py).

One float32 evaluation is one draw of rounding noise: at the output most sensitive to rounding, the original
may by luck land close to the float64 answer while a correct conversion, another draw, lands ten times farther
(the ratio of two such draws is Cauchy-distributed). So the floor takes FLOOR_DRAWS draws: the original as it
is, and copies with each weight moved to a random float32 neighbour (one ulp, the size of the rounding the
stored weights already carry), each judged against the float64 original; the floor is the worst of them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

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
    """A float64 copy of `model`, in eval mode; `model` is left as it is."""
    return copy.deepcopy(model).double().eval()


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
    not given) on `inputs`; `output` is "logits" or "probs"."""
    model64 = model64 if model64 is not None else as_float64(model)
    exact = run_model(model64, inputs.astype(np.float64), output)
    runs = [run_model(model, inputs, output)] + [run_model(ulp_jittered(model, seed), inputs, output) for seed in range(1, draws)]
    return Reference(inputs, exact, runs)


@torch.no_grad()
def with_half_weights(module: nn.Module) -> nn.Module:
    """A copy of `module` whose float parameters and buffers are rounded to float16 and back: what an fp16
    export stores, computed in float32 (the fp16 step's own floor: the error weight rounding alone makes)."""
    rounded = copy.deepcopy(module).eval()
    for tensor in [*rounded.parameters(), *rounded.buffers()]:
        if tensor.dtype == torch.float32:
            tensor.copy_(tensor.half().float())
    return rounded
