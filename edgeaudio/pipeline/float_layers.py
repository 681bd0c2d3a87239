"""--float-layers: int8 files that keep some layers in float.

When no range method brings an int8 file within its gate, `auto` keeps in float the layers that lose the most,
one more at a time, within a budget of the model's multiply-accumulates (--max-float-macs, a share of the
model's MACs): the layers are ranked by the SQNR each loses in the failed file against its float twin (the
target's own per-layer measurement, named by PyTorch module), each set is judged like a calibration try, on
calibration samples apart from the held-out ones, and the first set that passes is pruned of layers it turns
out not to need. A user can also name the layers: `--float-layers head,s5.pathway0_res2`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from edgeaudio.errors import InputError
from edgeaudio.exporters.target import in_modules

DEFAULT_MAX_FLOAT_MACS = 0.10  # of the model's MACs
MAX_TRIES = 8  # sets tried before giving up; each is one int8 conversion of the file


def parse_float_layers(text: str | None) -> str | tuple[str, ...]:
    """--float-layers as given: "auto" (search when the gate fails), () for "none", or the module names."""
    if text is None or text.strip() == "auto":
        return "auto"
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if names in ((), ("none",)):
        return ()
    return names


def module_macs(module, sample: np.ndarray) -> dict[str, int]:
    """Multiply-accumulates of every convolution and linear layer of `module` (by its name in the model) on one
    sample, counted as the graph counts do: output elements times kernel size times input channels per group,
    or times input features."""
    import torch
    from torch import nn

    macs: dict[str, int] = {}
    hooks = []

    def counter(name: str):
        def hook(layer, _inputs, output):
            per_output = layer.weight[0].numel() if isinstance(layer, nn.modules.conv._ConvNd) else layer.in_features
            macs[name] = macs.get(name, 0) + int(output.numel() // output.shape[0]) * int(per_output)
        return hook

    for name, layer in module.named_modules():
        if isinstance(layer, (nn.modules.conv._ConvNd, nn.Linear)):
            hooks.append(layer.register_forward_hook(counter(name)))
    try:
        with torch.no_grad():
            module.eval()(torch.from_numpy(np.ascontiguousarray(sample[:1], dtype=np.float32)))
    finally:
        for hook in hooks:
            hook.remove()
    return macs


def check_names(names: tuple[str, ...], module, checkpoint) -> None:
    """InputError (naming `checkpoint`) when a name given to --float-layers is not a module of the model as
    exported (folded unless --no-fold)."""
    known = {name for name, _ in module.named_modules() if name}
    missing = [n for n in names if n not in known]
    if missing:
        leaves = sorted(n for n in known if "." not in n)
        raise InputError(f"--float-layers {','.join(missing)}: no such module in the model (its top-level modules: "
                         f"{', '.join(leaves)}; verify --per-layer names every layer)", checkpoint)


@dataclass
class FloatLayersTry:
    """One set of layers kept float, judged like a calibration try (calibration_choice.Judged)."""

    layers: list[str]
    macs_share: float
    judged: object

    @property
    def passed(self) -> bool:
        return self.judged.passed

    def to_dict(self) -> dict:
        return {"layers": list(self.layers), "macs_share": round(self.macs_share, 5), **self.judged.to_dict()}

    def summary(self) -> str:
        return f"{'+'.join(self.layers)} ({self.macs_share:.2%} of MACs): {self.judged.summary()}"


@dataclass
class FloatLayersChoice:
    """What --float-layers auto found: the layers ranked by their loss, each set tried, and the set chosen (None
    when none within the budget passed)."""

    ranking: list[tuple[str, float, float]]  # (module, SQNR lost in dB, its share of the MACs), worst first
    tries: list[FloatLayersTry] = field(default_factory=list)
    chosen: tuple[str, ...] | None = None
    budget: float = DEFAULT_MAX_FLOAT_MACS
    why: str | None = None  # why no set was chosen

    def to_dict(self) -> dict:
        return {"ranking": [{"module": m, "loss_db": round(loss, 3), "macs_share": round(share, 5)} for m, loss, share in self.ranking],
                "tries": [t.to_dict() for t in self.tries], "chosen": None if self.chosen is None else list(self.chosen),
                "max_float_macs": self.budget, "why": self.why}

    def tried(self) -> str:
        return "; ".join(t.summary() for t in self.tries) or (self.why or "nothing tried")


def macs_share(macs: dict[str, int], names) -> float:
    """The share of the model's MACs inside the modules `names`."""
    total = sum(macs.values())
    return sum(m for name, m in macs.items() if in_modules(name, names)) / total if total else 0.0


def search(export, run, losses, judge, macs: dict[str, int], budget: float, max_tries: int = MAX_TRIES) -> FloatLayersChoice:
    """The fewest layers, within `budget` (a share of the MACs), whose keeping in float makes the int8 file pass
    `judge` (calibration_choice.Judge). `export(layers, job)` writes the int8 file keeping `layers` float,
    `run(path, inputs)` runs it, `losses(path, inputs)` ranks a file's modules ({module: SQNR lost in dB})."""
    base = export((), judge.trial)
    loss = losses(base, judge.samples)
    ranked = sorted(((m, d) for m, d in loss.items() if d > 0), key=lambda kv: -kv[1])
    choice = FloatLayersChoice([(m, d, macs_share(macs, [m])) for m, d in ranked], budget=budget)

    def attempt(layers: list[str]) -> FloatLayersTry:
        start = time.perf_counter()
        outputs = run(export(tuple(layers), judge.trial), judge.samples)
        made = FloatLayersTry(list(layers), macs_share(macs, layers), judge.judge(f"int8, float {'+'.join(layers)}", outputs, start))
        choice.tries.append(made)
        return made

    chosen: list[str] = []
    for module, _ in ranked:
        if len(choice.tries) >= max_tries:
            break
        if in_modules(module, chosen) or macs_share(macs, [*chosen, module]) > budget:
            continue
        chosen.append(module)
        if attempt(chosen).passed:
            break
    if not choice.tries or not choice.tries[-1].passed:
        choice.why = (f"no set of layers within {budget:.0%} of the MACs passed in {len(choice.tries)} tries" if choice.tries
                      else f"no layer that loses accuracy fits within {budget:.0%} of the MACs")
        return choice
    for module in reversed(chosen[:-1]):  # the ranking guessed the order: drop the layers the passing set does not need
        if len(choice.tries) >= max_tries:
            break
        fewer = [m for m in chosen if m != module]
        if attempt(fewer).passed:
            chosen = fewer
    choice.chosen = tuple(chosen)
    return choice
