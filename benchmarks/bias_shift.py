"""How far per-channel int8 weight rounding moves each conv output channel's mean, in units of that channel's
standard deviation: the error bias correction (Nagel et al. 2019, "Data-Free Quantization") exists to remove.

On the folded VGG-Sound-size hard checkpoint (realistic batch-norm statistics), with each conv's input means and
output spreads measured on 32 windows of generated audio through the model's front end (what export calibrates on
without --calib). Weight rounding as every target here does it: symmetric int8 per output channel. The shift of
output channel o is sum over its weights of (rounded - exact) x the mean of the input they read (padding ignored).

Run: .venv/bin/python benchmarks/bias_shift.py [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]  # tests/official_reference.py


def conv_shifts(model, x) -> list[dict]:
    """Per conv of `model` run on `x`: median and largest |mean shift| / output std over its output channels."""
    import torch

    seen = {}

    def keep(name):
        def hook(_module, inputs, output):
            seen[name] = (inputs[0].mean(dim=(0, 2, 3)).double(), output.std(dim=(0, 2, 3)).double())

        return hook

    convs = {name: m for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)}
    handles = [m.register_forward_hook(keep(name)) for name, m in convs.items()]
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    rows = []
    for name, conv in convs.items():
        w = conv.weight.detach().double()
        step = (w.abs().amax(dim=(1, 2, 3), keepdim=True) / 127).clamp_min(1e-30)
        error = (torch.round(w / step) * step - w).sum(dim=(2, 3))  # (out, in per group)
        mean_in, std_out = seen[name]
        per_group = w.shape[0] // conv.groups
        reads = torch.stack([mean_in[(o // per_group) * w.shape[1]:(o // per_group + 1) * w.shape[1]] for o in range(w.shape[0])])
        ratio = ((error * reads).sum(dim=1).abs() / std_out.clamp_min(1e-12)).numpy()
        rows.append({"layer": name, "depthwise": conv.groups > 1, "median": float(np.median(ratio)), "max": float(ratio.max())})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    import torch

    from edgeaudio.checkpoint import load_checkpoint
    from edgeaudio.fold import fold_model
    from edgeaudio.frontend import get_preset
    from edgeaudio.pipeline.data import synthetic_model_inputs
    from tests.official_reference import hard_checkpoint

    with tempfile.TemporaryDirectory() as work:
        loaded = load_checkpoint(hard_checkpoint(Path(work) / "vggsound_hard.pyth", "vggsound", 0))
    shape = tuple(loaded.config.input_shape[1:])
    x = torch.from_numpy(synthetic_model_inputs(32, shape, get_preset("vggsound"), 0)[0]).float()
    rows = conv_shifts(fold_model(loaded.model).eval(), x)
    summary = {"convs": len(rows), "median_of_layer_medians": float(np.median([r["median"] for r in rows])),
               "largest": max(rows, key=lambda r: r["max"])}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bias_shift.json").write_text(json.dumps({"command": "python benchmarks/bias_shift.py", **summary, "layers": rows}, indent=2) + "\n")
    print(f"{summary['convs']} convs; |mean shift| / output std: median over layers of the channel median "
          f"{summary['median_of_layer_medians']:.4f}; largest {summary['largest']['max']:.4f} ({summary['largest']['layer']})")


if __name__ == "__main__":
    main()
