"""The float gates' noise floor with the jittered float32 draws on every held-out sample, against the same draws
on the first K only (edgeaudio.pipeline.reference: the original's own draw always runs on every sample).

For each checkpoint: the export's own held-out samples (64, generated as `export` generates them), the reference
measured once with every draw on every sample, and the floor computed both ways from those runs, for the
probabilities and the logits. A ratio above 1 is how much lower the floor on K samples is: the factor by which
a correct step's error-to-floor ratio (at most 1.63 on benchmarks/results/parity_floor.md's checkpoints) would
grow against it. Floors below the absolute floor (9.5e-07) do not set a bound and are marked.

Run: .venv/bin/python benchmarks/floor_draws.py [--samples 16,32] [--checkpoints A.pyth,B.pyth] [--out benchmarks/results]
The official-format checkpoints with realistic statistics (small, seeds 0-2; VGG-Sound size, seeds 0-1) are
written by tests/official_reference.py; --checkpoints adds trained ones.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]  # tests/official_reference.py


def floors(path: Path, ks: list[int]) -> list[dict]:
    from edgeaudio.checkpoint import load_checkpoint
    from edgeaudio.pipeline.data import choose_frontend, model_inputs
    from edgeaudio.pipeline.gates import ABSOLUTE_FLOOR, noise_floor
    from edgeaudio.pipeline.reference import measure_reference

    loaded = load_checkpoint(path)
    shape = tuple(loaded.config.input_shape[1:])
    default = loaded.spec.default_frontend(loaded.config) if loaded.spec.default_frontend else None
    held = model_inputs(None, shape, choose_frontend(None, loaded.meta, loaded.cfg, shape, default), 0).held_out
    rows = []
    for output in ("probs", "logits"):
        reference = measure_reference(loaded.model, held, output, jittered=len(held))
        per_draw = [noise_floor(reference.exact, draw) for draw in reference.draws]
        for name, exact in reference.exact.items():
            full = max(f[name] for f in per_draw)
            row = {"checkpoint": path.name, "output": name, "samples": len(held), "floor": full,
                   "draws": [f[name] / full if full else None for f in per_draw], "below_absolute": full < ABSOLUTE_FLOOR}
            for k in ks:  # as Reference.noise_floor measures a draw of the first k samples
                reduced = max([per_draw[0][name]] + [noise_floor({name: exact}, {name: d[name][:k]})[name] for d in reference.draws[1:]])
                row[f"floor_{k}"] = reduced
                row[f"ratio_{k}"] = full / reduced if reduced else None
            rows.append(row)
    return rows


def render(report: dict) -> str:
    ks = report["samples"]
    lines = ["# The noise floor with the jittered draws on fewer samples", "", f"Command: `{report['command']}` ({report['seconds']} s)", "",
             "ratio = floor with every draw on all 64 held-out samples / floor with the jittered draws on the first K "
             "(the original's own draw on all 64); * = below the absolute floor, sets no bound.", "",
             "| checkpoint | output | floor (64) | " + " | ".join(f"floor ({k}) | ratio ({k})" for k in ks) + " |",
             "|---|---|---|" + "---|---|" * len(ks)]
    for r in report["rows"]:
        mark = " *" if r["below_absolute"] else ""
        lines.append(f"| {r['checkpoint']} | {r['output']} | {r['floor']:.3g}{mark} | "
                     + " | ".join(f"{r[f'floor_{k}']:.3g} | {r[f'ratio_{k}']:.2f}" for k in ks) + " |")
    for k in ks:
        worst = max(r[f"ratio_{k}"] for r in report["rows"] if not r["below_absolute"])
        lines += ["", f"Worst ratio with {k} samples, floors that set a bound: {worst:.2f}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    from tests.official_reference import hard_checkpoint

    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", default="16,32")
    parser.add_argument("--checkpoints", default="", help="more checkpoints (trained ones), comma-separated")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    ks = [int(k) for k in args.samples.split(",")]
    start = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = [hard_checkpoint(Path(tmp) / f"small_{s}.pyth", "small", s) for s in (0, 1, 2)]
        paths += [hard_checkpoint(Path(tmp) / f"vggsound_{s}.pyth", "vggsound", s) for s in (0, 1)]
        paths += [Path(p) for p in args.checkpoints.split(",") if p]
        for path in paths:
            rows += floors(Path(path), ks)
            print(f"{Path(path).name}: done", flush=True)
    command = "python benchmarks/floor_draws.py" + (f" --samples {args.samples}" if args.samples != "16,32" else "") + \
        (f" --checkpoints {','.join(Path(p).name for p in args.checkpoints.split(',') if p)}" if args.checkpoints else "")
    report = {"command": command, "seconds": round(time.perf_counter() - start, 1), "samples": ks, "rows": rows}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "floor_draws.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "floor_draws.md").write_text(render(report))
    print(render(report))


if __name__ == "__main__":
    main()
