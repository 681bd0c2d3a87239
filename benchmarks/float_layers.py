"""What keeping layers in float costs, and whether it saves an int8 file: `--float-layers auto` against full int8
and fp32, per target, on two checkpoints.

- `dead`: the tests' small trained event classifier with one class given a logit bias of -3000 (a class the
  model never predicts). Full int8 must share one 8-bit scale between that logit and the live ones, so the live
  logits collapse onto a few steps; keeping the head in float saves the file.
- `hard`: the VGG-Sound-size official-format checkpoint with realistic batch norms (tests/official_reference.py
  hard_checkpoint): its int8 error accumulates through every block, so the question is whether any set of layers
  within the MACs budget saves it; the per-layer ranking and every try are recorded either way.

For each checkpoint: `export --int8` with no flags (auto ranges, auto float layers) for TFLite and ONNX Runtime,
then the same with `--float-layers none --allow-mismatch` (full int8), then `bench` of fp32, full int8 and the
automatic int8 file (one thread, batch 1, each in a fresh process). Writes benchmarks/results/float_layers.{json,md}.

Run: .venv/bin/python benchmarks/float_layers.py [--models dead,hard] [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]  # tests/official_reference.py, tests/conftest.py

TARGETS = ("tflite", "onnx")


def dead(work: Path) -> Path:
    import torch

    from edgeaudio.checkpoint import save_official
    from tests.conftest import train_events

    model, frontend, _ = train_events(seed=0)
    with torch.no_grad():
        model.head.projection.bias[0] -= 3000.0
    return Path(save_official(model.eval(), work / "events_dead_class.pyth", epoch=1, frontend=frontend))


def hard(work: Path) -> Path:
    from tests.official_reference import hard_checkpoint

    return Path(hard_checkpoint(work / "vggsound_hard.pyth", "vggsound", 0))


def export_pair(checkpoint: Path, target: str, out: Path) -> dict:
    """The automatic int8 export and the full-int8 one (written even when it fails), with their figures."""
    import edgeaudio

    row = {"target": target}
    for kind, fields in (("auto", {}), ("full", {"float_layers": (), "allow_mismatch": True})):
        start = time.perf_counter()
        result = edgeaudio.export(checkpoint, target, int8=True, out=out / kind, **fields)
        step = [p for p in result.plan if p["precision"] == "int8"][0]
        int8 = [c for c in result.chain if c.step.endswith("int8")][-1]
        worst = min(int8.outputs, key=lambda m: m.cosine)
        row[kind] = {"passed": result.passed, "seconds": round(time.perf_counter() - start, 1), "cosine": worst.cosine,
                     "agreement": worst.agreement, "calib_method": step["calib_method_used"], "float_layers": step["float_layers"],
                     "calib_tries": step["tries"], "float_layer_search": step["float_layer_search"], "failure": result.failure,
                     "files": {Path(f).name: Path(f).stat().st_size for f in result.files}}
        print(json.dumps({kind: {k: v for k, v in row[kind].items() if k not in ("calib_tries", "float_layer_search")}}), flush=True)
    return row


def latencies(files: list[Path], runs: int) -> dict[str, dict]:
    import edgeaudio

    report = edgeaudio.bench(files, threads=(1,), runs=runs, warmup=5)
    return {Path(r.model).name: {"p50_ms": r.p50_ms, "p90_ms": r.p90_ms, "peak_rss_mb": r.peak_rss_mb, "size_mb": r.file_mb}
            for r in report.rows}


def measure(checkpoint: Path, work: Path, runs: int) -> dict:
    rows = []
    for target in TARGETS:
        row = export_pair(checkpoint, target, work / target)
        auto = [work / target / "auto" / name for name in row["auto"]["files"]]
        full = [work / target / "full" / name for name in row["full"]["files"]]
        fp32 = [f for f in full if "int8" not in f.name and f.suffix in (".tflite", ".onnx")]
        int8_full = [f for f in full if "int8" in f.name]
        int8_auto = [f for f in auto if "int8" in f.name]
        row["bench"] = {"fp32": fp32[-1:], "int8 full": int8_full, "int8 auto": int8_auto}
        timed = latencies([f for fs in row["bench"].values() for f in fs], runs)
        row["bench"] = {label: (timed.get(fs[0].name) if fs else None) for label, fs in row["bench"].items()}
        rows.append(row)
    return {"checkpoint": checkpoint.name, "rows": rows}


def markdown(results: dict, command: str) -> str:
    lines = ["# Layers kept in float: what they save and what they cost", "", f"`{command}`", "",
             "`export --int8` with no flags (auto ranges, then auto float layers within 10% of the MACs) against full "
             "int8 (`--float-layers none`) and fp32; gate figures on the export's held-out samples; latency of one "
             "thread, batch 1, each file in a fresh process on this machine.", ""]
    for name, r in results.items():
        lines += [f"## {name}: {r['checkpoint']}", ""]
        for row in r["rows"]:
            a, f = row["auto"], row["full"]
            lines += [f"### {row['target']}", "",
                      "| int8 file | gate | cosine | top-1 agreement | ranges | layers kept float |", "|---|---|---|---|---|---|",
                      f"| full int8 | {'pass' if f['passed'] else 'FAIL'} | {f['cosine']:.4f} | {100 * f['agreement']:.1f}% | {f['calib_method']} | none |",
                      f"| auto | {'pass' if a['passed'] else 'FAIL'} | {a['cosine']:.4f} | {100 * a['agreement']:.1f}% | {a['calib_method']} | "
                      f"{', '.join(a['float_layers']) or 'none'} |", ""]
            search = a["float_layer_search"]
            if search:
                lines += [f"Ranking (SQNR lost per layer, worst first): " + ", ".join(
                    f"{x['module']} {x['loss_db']:.1f} dB ({100 * x['macs_share']:.2f}% MACs)" for x in search["ranking"][:8]), ""]
                lines += ["| layers tried float | MACs | cosine | top-1 | verdict |", "|---|---|---|---|---|"]
                lines += [f"| {' + '.join(t['layers'])} | {100 * t['macs_share']:.2f}% | {t['cosine']:.4f} | {100 * t['agreement']:.1f}% | "
                          f"{'pass' if t['passed'] else 'FAIL'} |" for t in search["tries"]]
                lines += ["", f"Outcome: {search['why'] or 'kept float: ' + ', '.join(search['chosen'] or [])}", ""]
            lines += ["| file | p50 ms | p90 ms | peak RSS MB | size MB |", "|---|---|---|---|---|"]
            for label, b in row["bench"].items():
                if b:
                    lines.append(f"| {label} | {b['p50_ms']:.2f} | {b['p90_ms']:.2f} | {b['peak_rss_mb']:.0f} | {b['size_mb']:.2f} |")
            lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--models", default="dead,hard")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in args.models.split(","):
            checkpoint = {"dead": dead, "hard": hard}[name](work)
            results[name] = measure(checkpoint, work / name, args.runs)
    command = "python benchmarks/float_layers.py " + " ".join(sys.argv[1:])
    (out / "float_layers.json").write_text(json.dumps({"command": command, "load_average_1min": [load, os.getloadavg()[0]], **results},
                                                      indent=1, default=str) + "\n")
    (out / "float_layers.md").write_text(markdown(results, command))
    print((out / "float_layers.md").read_text())


if __name__ == "__main__":
    main()
