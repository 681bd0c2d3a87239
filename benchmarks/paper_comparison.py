"""The AudioRepInceptionNeXt paper's headline comparison, reproduced on this machine as far as the models exist.

Run: .venv/bin/python benchmarks/paper_comparison.py [--out benchmarks/results] [--runs 20] [--runs32 3]
Writes paper_comparison.{json,md,png}. One run, one machine, every row side by side:
- parameters and MACs (training form and folded), from the counter and from each exported graph;
- latency at batch 1 and batch 32, 1 and 2 threads;
- unfolded vs folded PyTorch eager; PyTorch vs ONNX Runtime vs TFLite; fp32 vs fp16 vs int8.
Speed is reported as ratios against PyTorch eager (unfolded, same batch and threads) measured in this run.

The paper's other model, the auditory Slow-Fast baseline (26.7M parameters, 5.52 GMACs), joins the table when
its architecture lands (issue 6): its rows will come from the same bench_checkpoint call on its checkpoint.
The checkpoint here is untrained (seeded weights, random batch-norm statistics): speed and counts do not depend
on the weights; the int8 parity gate does, so it is reported, not enforced.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from edgeaudio.pipeline.bench import BenchReport, bench_checkpoint
from edgeaudio.pipeline.demo import default_checkpoint
from edgeaudio.pipeline.info import info_for_arch

FORMATS = ["torch", "onnx", "tflite-fp32", "tflite-fp16", "tflite-int8"]


def markdown(report: BenchReport, counts: dict, command: str) -> str:
    ratios = report.speedups()
    m = report.machine
    lines = [
        "# AudioRepInceptionNeXt (VGG-Sound config): formats, fold, precision, threads, batch",
        "",
        f"Machine: {m.cpu}, {m.arch}, {m.cores} cores, Python {m.python}. Command: `{command}`.",
        "",
        "| form | params | GMACs conv+linear | fvcore total |",
        "|---|---|---|---|",
    ]
    lines += [f"| {f['label']} | {f['params']:,} | {f['macs'] / 1e9:.3f} | {f['fvcore_total'] / 1e9:.3f} |" for f in counts["forms"]]
    lines += ["", "| model | precision | threads | batch | MB | p50 ms | p90 ms | items/s | peak MB | speed-up vs PyTorch eager |", "|---|---|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(report.rows):
        lines.append(
            f"| {r.label} | {r.precision} | {r.threads} | {r.batch} | {r.file_mb:.2f} | {r.p50_ms:.1f} | {r.p90_ms:.1f} | "
            f"{r.throughput_per_s:.1f} | {r.peak_rss_mb:.0f} | {ratios.get(i, float('nan')):.2f}x |"
        )
    lines += ["", "Slow-Fast (the paper's baseline): arrives with issue 6; its rows will sit beside these.", ""]
    lines += [f"- {n}" for n in report.notes]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--runs", type=int, default=20, help="timed runs at batch 1")
    parser.add_argument("--runs32", type=int, default=3, help="timed runs at batch 32")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    counts = info_for_arch("audiorepinceptionnext", preset="vggsound").to_dict()
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = default_checkpoint(Path(tmp) / "checkpoint_epoch_00000.pyth")
        b1 = bench_checkpoint(ckpt, FORMATS, threads=[1, 2], batches=[1], runs=args.runs, warmup=3,
                              out_dir=Path(tmp) / "b1", progress=lambda msg: print(msg, flush=True))
        b32 = bench_checkpoint(ckpt, ["torch", "onnx", "tflite-fp32", "tflite-int8"], threads=[1, 2], batches=[32],
                               runs=args.runs32, warmup=1, out_dir=Path(tmp) / "b32", progress=lambda msg: print(msg, flush=True))
    report = BenchReport(b1.machine, b1.rows + b32.rows, {"batch1": b1.settings, "batch32": b32.settings}, notes=b1.notes)
    command = f"python benchmarks/paper_comparison.py --runs {args.runs} --runs32 {args.runs32}"
    (out / "paper_comparison.json").write_text(json.dumps({"command": command, "counts": counts, **report.to_dict()}, indent=2) + "\n")
    (out / "paper_comparison.md").write_text(markdown(report, counts, command))
    try:
        from edgeaudio.cli.runtime_commands import _plot

        _plot(out / "paper_comparison.png", report)
    except Exception as exc:  # the plot is optional (matplotlib)
        print(f"no plot: {exc}")
    print((out / "paper_comparison.md").read_text())


if __name__ == "__main__":
    main()
