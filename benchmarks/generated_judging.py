"""How well 64 generated samples judge an int8 file, against the 200 real-ish clips of benchmarks/calibration.py.

With no --calib, the export calibrates on 64 windows of generated audio, and its int8 gate judges on 64 more
(the held-out samples); the automatic range choice judges its tries on 64 others again. This benchmark makes
the trained VGG-Sound-size model's int8 file with each range method, calibrated as the export calibrates (the
64 generated windows) and on 256, and judges every file twice:

- on the 200 judged clips (first windows), as benchmarks/calibration.py does: the figures the int8 criterion is
  stated in;
- on DRAWS draws of 64 generated windows (the export's own held-out samples, the range choice's fresh samples,
  and other seeds), under the int8 gate's own bounds (cosine >= 0.99, top-1 agreement by its Wilson upper end):
  how many draws pass, and the spread of their cosine.

A file whose clips figures sit on the bounds passes some draws and fails others: the export's gate then
decides by which draw it got. The reference is the fp32 TFLite file (within 1e-8 of the float64 original here,
far inside an int8 file's error).

Run: .venv/bin/python benchmarks/generated_judging.py --trained trained8.pyth [--out benchmarks/results]
Writes generated_judging.json and generated_judging.md to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

METHODS = ("minmax", "percentile", "mse")
SIZES = (64, 256)  # generated calibration windows: the export's count, and four times that
DRAWS = 6  # draws of 64 generated windows that judge each file; seed 0's is the export's held-out set
JUDGED = 64


def generated(n: int, shape, frontend, seed: int) -> np.ndarray:
    from edgeaudio.pipeline.data import synthetic_model_inputs

    return synthetic_model_inputs(n, shape, frontend, seed)[0]


def judged_draws(shape, frontend) -> dict[str, np.ndarray]:
    """Draw name -> 64 generated windows: the export's held-out samples (seed 0, after its 64 calibration
    windows), the range choice's fresh ones (seed 1), then seeds 2 onwards."""
    draws = {"export held-out (seed 0)": generated(2 * JUDGED, shape, frontend, 0)[JUDGED:],
             "range choice's (seed 1)": generated(JUDGED, shape, frontend, 1)}
    for seed in range(2, DRAWS):
        draws[f"seed {seed}"] = generated(JUDGED, shape, frontend, seed)
    return draws


def measure(trained: Path, work: Path) -> dict:
    from calibration import convert, corpus

    from edgeaudio.exporters.to_tflite import convert_saved_model
    from edgeaudio.parity import check, compare
    from edgeaudio.pipeline.gates import bounds_for
    from edgeaudio.runtime.runner import Runner

    _, judged = corpus(work, 5.12)
    c = convert(trained, judged, work, (False,))
    draws = judged_draws(c.shape, c.frontend)
    fp32 = Runner(c.fp32)
    references = {name: fp32.run(x)[0] for name, x in draws.items()}
    calibration = {64: generated(2 * JUDGED, c.shape, c.frontend, 0)[:JUDGED]}
    calibration[256] = np.concatenate([calibration[64], generated(256 - JUDGED, c.shape, c.frontend, 7)])
    bounds = bounds_for("int8", ["probabilities"], "softmax")
    rows = []
    for size in SIZES:
        for method in METHODS:
            start = time.perf_counter()
            path = work / f"int8_{method}_{size}.tflite"
            path.write_bytes(convert_saved_model(c.saved[False], "int8", calibration[size].transpose(0, 2, 3, 1), ranges=method))
            run = Runner(path)
            clips = compare("probabilities", c.reference, run.run(c.windows)[0])
            judged_by = {}
            for name, x in draws.items():
                m = check("int8", "TFLite fp32", {"probabilities": (references[name], run.run(x)[0])}, bounds)
                judged_by[name] = {"passed": m.passed, "cosine": m.outputs[0].cosine, "agreement": m.outputs[0].agreement}
            cosines = [d["cosine"] for d in judged_by.values()]
            rows.append({"method": method, "calibration_windows": size, "clips_agreement": clips.agreement,
                         "clips_agreement_low": clips.agreement_low, "clips_cosine": clips.cosine,
                         "clips_meet_bounds": clips.agreement >= 0.98 and clips.cosine >= 0.99,
                         "draws_passed": sum(d["passed"] for d in judged_by.values()), "draws": len(judged_by),
                         "draw_cosine_min": min(cosines), "draw_cosine_median": float(np.median(cosines)), "draw_cosine_max": max(cosines),
                         "by_draw": judged_by, "seconds": round(time.perf_counter() - start, 1)})
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "by_draw"}), flush=True)
    return {"checkpoint": trained.name, "draws": list(draws), "rows": rows}


def markdown(result: dict, command: str) -> str:
    lines = ["# How well 64 generated samples judge an int8 file", "", f"`{command}`", "",
             f"{result['checkpoint']}: each int8 file against the TFLite fp32 file, on the 200 judged clips of "
             "benchmarks/calibration.py and under the int8 gate's bounds on draws of 64 generated windows "
             f"({', '.join(result['draws'])}). The issue's criterion on the clips: agreement >= 98% and cosine >= 0.99.",
             "", "| ranges | calibration windows | clips: agreement (95% low) | clips: cosine | criterion | generated draws passing the gate | their cosine min / median / max |",
             "|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['method']} | {r['calibration_windows']} | {100 * r['clips_agreement']:.1f}% ({100 * r['clips_agreement_low']:.1f}%) "
                     f"| {r['clips_cosine']:.4f} | {'met' if r['clips_meet_bounds'] else 'missed'} | {r['draws_passed']} of {r['draws']} "
                     f"| {r['draw_cosine_min']:.4f} / {r['draw_cosine_median']:.4f} / {r['draw_cosine_max']:.4f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trained", required=True, help="the trained VGG-Sound-size checkpoint of benchmarks/calibration.py --train")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(Path(args.trained), Path(tmp))
    command = "python benchmarks/generated_judging.py " + " ".join(sys.argv[1:])
    (out / "generated_judging.json").write_text(json.dumps({"command": command, "load_average_1min": os.getloadavg()[0], **result}, indent=1) + "\n")
    (out / "generated_judging.md").write_text(markdown(result, command))
    print((out / "generated_judging.md").read_text())


if __name__ == "__main__":
    main()
