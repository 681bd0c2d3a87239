"""Where the float gates come from: each float step's error against the float64 original, beside the original's
own float32 error (its noise floor), on official-format checkpoints with realistic batch-norm statistics.

Run: .venv/bin/python benchmarks/parity_floor.py [--sizes small,vggsound] [--seeds 0,1,2,3,4] [--out benchmarks/results]
Writes parity_floor.json and parity_floor.md. Checkpoints come from tests/official_reference.py (an independent
stand-in for the official code, saved as its save_checkpoint does): small = width 16, 10 classes, 256x128, a cfg
whose CLIP_SECS disagrees with NUM_FRAMES; vggsound = the full 11.8M network, 309 classes, 512x128. Each is
exported to ONNX, TFLite fp32 and fp16 through `export_checkpoint` (32 held-out inputs) and folded through
`fold_checkpoint` (8 inputs). The ratio column (error / floor) is what FLOOR_FACTOR in edgeaudio/pipeline/gates.py
must cover for correct conversions.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # export_stages' machine(); tests/official_reference.py

from export_stages import machine  # noqa: E402
from tests.official_reference import hard_checkpoint  # noqa: E402

from edgeaudio.pipeline.export import ExportOptions, export_checkpoint  # noqa: E402
from edgeaudio.checkpoint import load_checkpoint  # noqa: E402
from edgeaudio.pipeline.fold import fold_loaded  # noqa: E402
from edgeaudio.pipeline.gates import ABSOLUTE_FLOOR, FLOOR_FACTOR, GATED_METRIC, kind_of  # noqa: E402


def step_rows(chain, size: str, seed: int, job: str) -> list[dict]:
    """One row per (step, output): the gated error, the floor it is judged against, the bound, the verdict."""
    rows = []
    for step in chain:
        for m in step.outputs:
            metric = GATED_METRIC[kind_of(m.name)]
            floor = step.noise_floor.get(m.name)
            error = float(getattr(m, metric))
            rows.append({
                "size": size, "seed": seed, "job": job, "step": step.step, "output": m.name, "metric": metric,
                "error": error, "noise_floor": floor, "ratio": None if not floor else error / floor,
                "bound": getattr(step.bounds[m.name], metric), "passed": step.passed,
            })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="small,vggsound")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    rows: list[dict] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            for seed in map(int, args.seeds.split(",")):
                ckpt = hard_checkpoint(Path(tmp) / f"{size}_{seed}.pyth", size, seed)
                print(f"{size} seed {seed}: fold", flush=True)
                _, chain = fold_loaded(load_checkpoint(ckpt), seed=seed)  # not fold_checkpoint: a failure is a row here
                rows += step_rows(chain, size, seed, "fold")
                print(f"{size} seed {seed}: export", flush=True)
                result = export_checkpoint(ckpt, Path(tmp) / f"out_{size}_{seed}", ExportOptions(target="tflite", precision="fp16", allow_mismatch=True))
                rows += step_rows(result.chain, size, seed, "export")
    report = {
        "command": f"python benchmarks/parity_floor.py --sizes {args.sizes} --seeds {args.seeds}",
        "machine": machine(),
        "floor_factor": FLOOR_FACTOR,
        "absolute_floor": ABSOLUTE_FLOOR,
        "seconds": round(time.perf_counter() - start, 1),
        "rows": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "parity_floor.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Float gates: each step's error beside the original's own float32 noise floor",
        "",
        f"Command: `{report['command']}` ({report['seconds']} s). Machine: {report['machine']}.",
        f"Bound = max({FLOOR_FACTOR:g} x floor, {ABSOLUTE_FLOOR:.2g}); error and floor in the step's gated metric, against the original in float64.",
        "",
    ]
    lines += summary(rows)
    lines += ["", "| size | seed | job | step | output | metric | error | floor | error / floor | bound | gate |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        floor = "-" if r["noise_floor"] is None else f"{r['noise_floor']:.3g}"
        lines.append(f"| {r['size']} | {r['seed']} | {r['job']} | {r['step']} | {r['output']} | {r['metric']} | {r['error']:.3g} | {floor} | "
                     f"{ratio} | {r['bound']:.3g} | {'pass' if r['passed'] else 'FAIL'} |")
    (out / "parity_floor.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def summary(rows: list[dict]) -> list[str]:
    """Worst error / floor per step over every size and seed (steps whose floor is real, not the absolute one)."""
    worst: dict[str, float] = {}
    for r in rows:
        if r["ratio"] is not None and r["noise_floor"] * FLOOR_FACTOR > ABSOLUTE_FLOOR:
            worst[r["step"]] = max(worst.get(r["step"], 0.0), r["ratio"])
    lines = ["| step | worst error / floor |", "|---|---|"]
    lines += [f"| {step} | {ratio:.2f} |" for step, ratio in worst.items()]
    return lines


if __name__ == "__main__":
    main()
