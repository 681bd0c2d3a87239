"""The AudioRepInceptionNeXt paper's headline comparison, reproduced on this machine: AudioRepInceptionNeXt
against the auditory Slow-Fast baseline, both in their VGG-Sound configuration; YAMNet (AudioSet) and the
LEAN-style model (FSD50K) ride along for scale, on their own inputs (not like for like).

Run: .venv/bin/python benchmarks/paper_comparison.py [--out benchmarks/results] [--runs 20] [--runs32 3] [--threads 1,2]
Writes paper_comparison.{json,md,png}. One run, one machine, every model through the same bench_checkpoint call:
- parameters and MACs (training form and folded) of each model, and their ratio (paper: ARIN has over 50% fewer);
- latency at batch 1 and batch 32, per thread count, for PyTorch eager (unfolded and folded), ONNX Runtime
  and TFLite fp32, fp16 (batch 1) and int8; the speed ratio of AudioRepInceptionNeXt against each other model
  per backend and batch (paper: 1.28x faster than Slow-Fast, measured on a GPU at batch 32).
More models join as entries of MODELS; the first entry is the one every other is compared with.

The checkpoints are untrained (seeded weights, random batch-norm statistics): speed and counts do not depend
on the weights; the int8 parity gate does, so it is reported, not enforced.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edgeaudio.pipeline.bench import BenchReport, BenchSettings, bench_checkpoint
from edgeaudio.pipeline.info import info_for_arch

FORMATS_B1 = ["torch", "onnx", "tflite-fp32", "tflite-fp16", "tflite-int8"]
FORMATS_B32 = ["torch", "onnx", "tflite-fp32", "tflite-int8"]
BACKENDS = {  # bench row label -> (what the tables call it, what the plot's axis calls it), in table order
    "torch": ("PyTorch eager, training form", "PyTorch\ntraining"),
    "torch-folded": ("PyTorch eager, folded", "PyTorch\nfolded"),
    "onnx": ("ONNX Runtime fp32", "ONNX\nRuntime"),
    "tflite-fp32": ("TFLite fp32", "TFLite\nfp32"),
    "tflite-fp16": ("TFLite fp16", "TFLite\nfp16"),
    "tflite-int8": ("TFLite int8", "TFLite\nint8"),
}


def untrained_official(arch: str, preset: str, seed: int = 0) -> Callable[[Path], Path]:
    """A writer of a seeded, untrained official-format checkpoint of `arch` in `preset`, its batch norms given
    random statistics so the fold has something to prove (the same recipe as pipeline.demo.default_checkpoint)."""

    def write(path: Path) -> Path:
        import torch

        from edgeaudio.checkpoint import save_official
        from edgeaudio.models import get_spec
        from edgeaudio.models.audiorepinceptionnext.blocks import randomize_batchnorm

        spec = get_spec(arch)
        torch.manual_seed(seed)
        model = spec.build(spec.config(preset), "training").eval()
        randomize_batchnorm(model, torch.Generator().manual_seed(seed))
        return save_official(model, path, epoch=0)

    return write


def untrained_edgeaudio(arch: str, preset: str, seed: int = 0) -> Callable[[Path], Path]:
    """A writer of a seeded, untrained edgeaudio-format checkpoint of `arch` in `preset`, for the models that have
    no official PyTorch checkpoint format (YAMNet's official weights are Keras; LEAN-style is edgeaudio's own).
    Their batch norms keep fresh statistics: speed does not depend on them."""

    def write(path: Path) -> Path:
        import torch

        from edgeaudio.checkpoint import save_edgeaudio
        from edgeaudio.models import get_spec

        spec = get_spec(arch)
        torch.manual_seed(seed)
        return save_edgeaudio(spec.build(spec.config(preset), "training").eval(), path.with_suffix(".pt"))

    return write


@dataclass(frozen=True)
class Entry:
    """One model of the comparison: its name in the tables, registry name and preset (for the counts), and
    a writer of the checkpoint to benchmark (path in, path out)."""

    name: str
    arch: str
    preset: str
    checkpoint: Callable[[Path], Path]


MODELS = [
    Entry("AudioRepInceptionNeXt", "audiorepinceptionnext", "vggsound", untrained_official("audiorepinceptionnext", "vggsound")),
    Entry("Slow-Fast", "slowfast", "vggsound", untrained_official("slowfast", "vggsound")),
    Entry("YAMNet", "yamnet", "audioset", untrained_edgeaudio("yamnet", "audioset")),
    Entry("LEAN-style", "lean", "fsd50k", untrained_edgeaudio("lean", "fsd50k")),
]


@dataclass
class Measured:
    entry: Entry
    counts: dict  # ModelInfo.to_dict() of the preset
    report: BenchReport

    def form(self, name: str) -> dict:
        """Counts of form `name` (falling back to the first counted form)."""
        forms = self.counts["forms"]
        return next((f for f in forms if f["form"] == name), forms[0])

    def p50(self) -> dict[tuple[str, int | None, int], float]:
        """(row label, threads, batch) -> p50 ms."""
        return {(r.label, r.threads, r.batch): r.p50_ms for r in self.report.rows}


def measure(entry: Entry, work: Path, threads: list[int], runs: int, runs32: int) -> Measured:
    """Counts, then one bench_checkpoint per batch size (batch 32 needs a dynamic-batch export)."""
    print(f"== {entry.name} ({entry.arch}, {entry.preset})", flush=True)
    counts = info_for_arch(entry.arch, preset=entry.preset).to_dict()
    ckpt = entry.checkpoint(work / f"{entry.arch}_{entry.preset}.pyth")
    progress = lambda msg: print(f"  {msg}", flush=True)  # noqa: E731
    b1 = bench_checkpoint(ckpt, FORMATS_B1, BenchSettings(threads=tuple(threads), batches=(1,), runs=runs, warmup=3),
                          out_dir=work / f"{entry.arch}_b1", progress=progress)
    b32 = bench_checkpoint(ckpt, FORMATS_B32, BenchSettings(threads=tuple(threads), batches=(32,), runs=runs32, warmup=1),
                           out_dir=work / f"{entry.arch}_b32", progress=progress)
    report = BenchReport(b1.machine, b1.rows + b32.rows, {"batch1": b1.settings, "batch32": b32.settings}, notes=b1.notes)
    return Measured(entry, counts, report)


def size_rows(models: list[Measured]) -> list[dict]:
    """Per model: parameters and MACs of the training and folded forms, and each against the first model."""
    rows = []
    base = models[0].form("folded")
    for m in models:
        train, folded = m.form("training"), m.form("folded")
        rows.append({
            "model": m.entry.name, "params_training": train["params"], "params_folded": folded["params"],
            "macs_folded": folded["macs"], "fvcore_total_training": train["fvcore_total"],
            "params_ratio_first_to_this": base["params"] / folded["params"],
            "macs_ratio_first_to_this": base["macs"] / folded["macs"],
        })
    return rows


def latency_rows(models: list[Measured]) -> list[dict]:
    """One row per (backend, threads, batch) that every model has: each model's p50, and each other model's
    p50 over the first's (above 1: the first model is that much faster)."""
    p50s = [m.p50() for m in models]
    keys = [k for k in p50s[0] if all(k in p for p in p50s[1:])]
    order = list(BACKENDS)
    keys.sort(key=lambda k: (k[2], k[1] or 0, order.index(k[0]) if k[0] in order else len(order)))
    rows = []
    for label, threads, batch in keys:
        p = {m.entry.name: p50[(label, threads, batch)] for m, p50 in zip(models, p50s)}
        first = models[0].entry.name
        rows.append({
            "backend": BACKENDS.get(label, (label,))[0], "label": label, "threads": threads, "batch": batch, "p50_ms": p,
            "speedup_of_first": {name: ms / p[first] for name, ms in p.items() if name != first},
        })
    return rows


def _detail(m: Measured) -> list[str]:
    ratios = m.report.speedups()
    lines = [
        f"### {m.entry.name} ({m.entry.preset} config): every row",
        "",
        "| form | params | GMACs conv+linear | fvcore total |",
        "|---|---|---|---|",
    ]
    lines += [f"| {f['label']} | {f['params']:,} | {f['macs'] / 1e9:.3f} | {f['fvcore_total'] / 1e9:.3f} |" for f in m.counts["forms"]]
    lines += ["", "| model | precision | threads | batch | MB | p50 ms | p90 ms | items/s | peak MB | speed-up vs PyTorch eager |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(m.report.rows):
        lines.append(
            f"| {r.label} | {r.precision} | {r.threads} | {r.batch} | {r.file_mb:.2f} | {r.p50_ms:.1f} | {r.p90_ms:.1f} | "
            f"{r.throughput_per_s:.1f} | {r.peak_rss_mb:.0f} | {ratios.get(i, float('nan')):.2f}x |"
        )
    lines += [""] + [f"- {n}" for n in m.report.notes] + [""]
    return lines


PAPER_SAYS = {"slowfast": " (the paper: over 50% fewer)"}
INPUTS = {  # what one inference takes, per registry name
    "audiorepinceptionnext": "one 512x128 log-mel (VGG-Sound, 5.12 s)",
    "slowfast": "one 512x128 log-mel (VGG-Sound, 5.12 s)",
    "yamnet": "one 96x64 log-mel patch (0.96 s)",
    "lean": "1.935 s of raw 16 kHz waveform, log-mel computed inside the graph",
}


def _fewer(ratio: float) -> str:
    """`ratio` = first / other, as "55% fewer", "6% more" or "3.1x more"."""
    if ratio <= 1:
        return f"{1 - ratio:.0%} fewer"
    return f"{ratio - 1:.0%} more" if ratio < 2 else f"{ratio:.1f}x more"


def markdown(models: list[Measured], sizes: list[dict], latency: list[dict], command: str, load: dict) -> str:
    first, others = models[0].entry.name, [m.entry.name for m in models[1:]]
    machine = models[0].report.machine
    lines = [
        f"# {' vs '.join(m.entry.name for m in models)}: the paper's comparison on this machine",
        "",
        f"Machine: {machine.cpu}, {machine.arch}, {machine.cores} cores, Python {machine.python}, CPU only; "
        f"1-minute load average {load['before']:.1f} before and {load['after']:.1f} after the run (a shared machine: "
        f"every figure carries that noise). Command: `{command}`. Untrained checkpoints (seeded weights, random batch-norm statistics): speed and "
        f"counts do not depend on the weights.",
        "",
        "## Size",
        "",
        f"| model | params, training form | params, folded | GMACs (folded, conv+linear) | fvcore total (training) | "
        f"{first} params / this | {first} MACs / this |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in sizes:
        lines.append(
            f"| {s['model']} | {s['params_training']:,} | {s['params_folded']:,} | {s['macs_folded'] / 1e9:.2f} | "
            f"{s['fvcore_total_training'] / 1e9:.2f} | {s['params_ratio_first_to_this']:.3f} | {s['macs_ratio_first_to_this']:.3f} |"
        )
    for m, s in zip(models[1:], sizes[1:]):
        lines.append(f"\n{first} against {s['model']}: {_fewer(s['params_ratio_first_to_this'])} parameters and "
                     f"{_fewer(s['macs_ratio_first_to_this'])} MACs{PAPER_SAYS.get(m.entry.arch, '')}.")
    lines.append(f"\nInputs differ: {'; '.join(f'{m.entry.name}: {INPUTS[m.entry.arch]}' for m in models)}. "
                 "Only the Slow-Fast comparison is like for like (same task, same input).")
    header = " | ".join(f"{n} p50 ms" for n in [first, *others])
    speed = " | ".join(f"{first} speed-up over {n}" for n in others)
    lines += [
        "",
        "## Latency, side by side",
        "",
        f"p50 of the inference call alone, each row in a fresh process. Speed-up over a model = its p50 / {first}'s "
        "p50 at the same backend, threads and batch (above 1: "
        f"{first} is faster). The paper reports 1.28x over Slow-Fast on a GPU at batch 32; this is a 2-core CPU.",
        "",
        f"| backend | threads | batch | {header} | {speed} |",
        "|---|---|---|" + "---|" * (len(models) + len(others)),
    ]
    for row in latency:
        p = " | ".join(f"{row['p50_ms'][n]:.1f}" for n in [first, *others])
        s = " | ".join(f"{row['speedup_of_first'][n]:.2f}x" for n in others)
        lines.append(f"| {row['backend']} | {row['threads']} | {row['batch']} | {p} | {s} |")
    lines += ["", "## Each model", ""]
    for m in models:
        lines += _detail(m)
    return "\n".join(lines)


def plot(path: Path, models: list[Measured], latency: list[dict]) -> None:
    """p50 per backend, one bar per model, batch 1 and batch 32 side by side (most threads measured)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    threads = max((r["threads"] or 0) for r in latency)
    batches = sorted({r["batch"] for r in latency})
    fig, axes = plt.subplots(1, len(batches), figsize=(6 * len(batches), 4.5), squeeze=False)
    width = 0.8 / len(models)
    for ax, batch in zip(axes[0], batches):
        rows = [r for r in latency if r["batch"] == batch and (r["threads"] or 0) == threads]
        for i, m in enumerate(models):
            xs = [j + (i - (len(models) - 1) / 2) * width for j in range(len(rows))]
            ax.bar(xs, [r["p50_ms"][m.entry.name] for r in rows], width, label=m.entry.name)
        ax.set_xticks(range(len(rows)), [BACKENDS.get(r["label"], (r["label"],) * 2)[1] for r in rows], fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("p50 latency (ms, log scale)")
        ax.set_title(f"batch {batch}, {threads} thread{'s' if threads > 1 else ''}", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    machine = models[0].report.machine
    fig.suptitle(f"{' vs '.join(m.entry.name for m in models)}, {machine.cpu} ({machine.arch}, CPU)", fontsize=10)
    fig.savefig(path, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--runs", type=int, default=20, help="timed runs at batch 1")
    parser.add_argument("--runs32", type=int, default=3, help="timed runs at batch 32")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    threads = [int(t) for t in args.threads.split(",")]
    load = {"before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        models = [measure(entry, Path(tmp), threads, args.runs, args.runs32) for entry in MODELS]
    load["after"] = os.getloadavg()[0]
    sizes, latency = size_rows(models), latency_rows(models)
    command = f"python benchmarks/paper_comparison.py --runs {args.runs} --runs32 {args.runs32} --threads {args.threads}"
    result = {
        "command": command,
        "compared_with": MODELS[0].name,
        "load_average_1min": load,
        "size": sizes,
        "latency": latency,
        "models": [{"name": m.entry.name, "arch": m.entry.arch, "preset": m.entry.preset, "counts": m.counts,
                    **m.report.to_dict()} for m in models],
    }
    (out / "paper_comparison.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "paper_comparison.md").write_text(markdown(models, sizes, latency, command, load))
    try:
        plot(out / "paper_comparison.png", models, latency)
    except ImportError as exc:  # the plot is optional (matplotlib)
        print(f"no plot: {exc}")
    print((out / "paper_comparison.md").read_text())


if __name__ == "__main__":
    main()
