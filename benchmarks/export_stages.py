"""How long each export stage takes for the VGG-Sound-size AudioRepInceptionNeXt (11.8M parameters).

Run: .venv/bin/python benchmarks/export_stages.py [--out benchmarks/results]
Writes export_stages.json and export_stages.md. The checkpoint is the demo's (official format, seeded weights,
random batch-norm statistics): an untrained network, so the int8 gate is expected to fail on its near-flat
outputs and the export runs with allow_mismatch; the timings are what this file is for.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from edgeaudio.pipeline.demo import default_checkpoint
from edgeaudio.pipeline.export import ExportOptions, export_checkpoint


def machine() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "arch": platform.machine(), "python": sys.version.split()[0]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = default_checkpoint(Path(tmp) / "checkpoint_epoch_00000.pyth")
        for label, options in (
            ("tflite int8 (synthetic calibration, 64 samples)", ExportOptions(target="tflite", precision="int8", calib="synthetic", allow_mismatch=True)),
            ("tflite fp16", ExportOptions(target="tflite", precision="fp16", allow_mismatch=True)),
        ):
            start = time.perf_counter()
            result = export_checkpoint(ckpt, Path(tmp) / label.split()[1], options, progress=lambda m: print(m, flush=True))
            runs.append(
                {
                    "run": label,
                    "total_seconds": round(time.perf_counter() - start, 2),
                    "stages": [{"stage": n, "seconds": round(s, 2)} for n, s in result.stages],
                    "files": [{"file": Path(m.path).name, "mb": round(m.size_bytes / 1e6, 2)} for m in result.models],
                    "gates": {s.step: s.passed for s in result.chain},
                }
            )
    report = {"command": "python benchmarks/export_stages.py", "machine": machine(), "model": "AudioRepInceptionNeXt VGG-Sound config (11,834,869 params training form)", "runs": runs}
    (out / "export_stages.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# Export stage timings, {report['model']}", "", f"Machine: {report['machine']}", f"Command: `{report['command']}`", ""]
    for run in runs:
        lines += [f"## {run['run']} (total {run['total_seconds']} s)", "", "| stage | seconds |", "|---|---|"]
        lines += [f"| {s['stage']} | {s['seconds']} |" for s in run["stages"]]
        lines += ["", "| file | MB |", "|---|---|"] + [f"| {f['file']} | {f['mb']} |" for f in run["files"]]
        lines += ["", "gates: " + ", ".join(f"{k} {'pass' if v else 'FAIL'}" for k, v in run["gates"].items()), ""]
    (out / "export_stages.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
