"""Commands that run on a device with the runtime-only install: predict."""

from __future__ import annotations

from pathlib import Path

import click

from edgeaudio.cli import cli
from edgeaudio.cli.render import table


def render_predictions(predictions) -> str:
    rows = []
    for p in predictions:
        rows.append((Path(p.file).name, "clip", ", ".join(f"{s.label} {s.score:.2f}" for s in p.top)))
        for start, top in p.windows:
            rows.append(("", f"{start:.2f}s", ", ".join(f"{s.label} {s.score:.2f}" for s in top)))
    return table(["clip", "window", "top labels (score)"], rows)


@cli.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("clips", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--top-k", type=click.IntRange(1, 100), default=5, show_default=True)
@click.option("--threads", type=int, default=None, help="Interpreter threads.")
@click.option("--json", "json_out", default=None, help="Also write the predictions as JSON to this file.")
def predict(model, clips, top_k, threads, json_out):
    """Top labels of each WAV CLIP (and each window of a long clip) from an exported MODEL (.tflite or .onnx).

    The front end and labels come from the model's manifest.
    """
    from edgeaudio.pipeline.predict import predict_clips

    predictions = predict_clips(model, list(clips), top_k, threads)
    click.echo(render_predictions(predictions))
    if json_out:
        from edgeaudio.atomic import write_json

        write_json(json_out, {"model": str(model), "clips": [p.to_dict() for p in predictions]})


def render_bench(report) -> str:
    from edgeaudio.cli.render import table

    ratios = report.speedups()
    rows = []
    for i, r in enumerate(report.rows):
        rows.append(
            (
                r.label or Path(r.model).name,
                r.precision,
                r.backend + (f" +{r.delegate}" if r.delegate else ""),
                r.threads or "-",
                r.batch,
                f"{r.file_mb:.2f}" if r.file_mb is not None else "-",
                f"{r.params / 1e6:.2f}M" if r.params else "-",
                f"{r.macs / 1e6:.0f}" if r.macs else "-",
                f"{r.load_ms:.0f}",
                f"{r.first_ms:.1f}",
                f"{r.p50_ms:.2f}",
                f"{r.p90_ms:.2f}",
                f"{r.p99_ms:.2f}",
                f"{r.mean_ms:.2f}±{r.std_ms:.2f}",
                f"{r.throughput_per_s:.1f}",
                f"{r.peak_rss_mb:.0f}",
                f"{r.model_rss_mb:.0f}",
                f"{ratios[i]:.2f}x" if i in ratios else "-",
            )
        )
    headers = ["model", "precision", "backend", "thr", "batch", "MB", "params", "MMACs", "load ms", "first ms",
               "p50 ms", "p90 ms", "p99 ms", "mean±std", "items/s", "peak MB", "+model MB", "vs torch"]
    m = report.machine
    head = f"machine: {m.cpu}, {m.arch}, {m.cores} cores" + (f", {m.board}" if m.board else "") + (
        f", {m.clock_mhz:.0f} MHz" if m.clock_mhz else "") + (f", {m.temperature_c} C" if m.temperature_c is not None else "")
    temps = [(r.temp_before_c, r.temp_after_c) for r in report.rows if r.temp_before_c is not None]
    lines = [head, table(headers, rows, [False, False, False] + [True] * 15)]
    if temps:
        lines.append("SoC temperature before/after each run (C): " + ", ".join(f"{a}/{b}" for a, b in temps))
    lines.append(f"latency over {report.rows[0].runs if report.rows else 0}+ timed runs after warm-up, inference call only; "
                 f"{report.counting_rule}")
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)


@cli.command()
@click.argument("models", nargs=-1, type=click.Path(path_type=Path))
@click.option("--formats", default=None, help="With one checkpoint: export and bench these, comma-separated: torch,onnx,tflite-fp32,tflite-fp16,tflite-int8.")
@click.option("--calib", default=None, help="Calibration data for tflite-int8 (see export); synthetic if absent.")
@click.option("--threads", default=None, help="Threads, or a comma-separated list to compare (e.g. 1,2).")
@click.option("--batch", "batches", default="1", show_default=True, help="Batch size, or a comma-separated list (e.g. 1,32).")
@click.option("--runs", type=click.IntRange(1, 100000), default=50, show_default=True, help="Timed runs (at least).")
@click.option("--warmup", type=click.IntRange(0, 10000), default=10, show_default=True, help="Untimed runs first.")
@click.option("--duration", type=float, default=None, help="Keep running for this many seconds (sustained load, throttling).")
@click.option("--data", default=None, help="A .npy of (N,1,T,F) inputs instead of synthetic spectrograms.")
@click.option("--json", "json_out", default=None, help="Write the report as JSON.")
@click.option("--csv", "csv_out", default=None, help="Write the rows as CSV.")
@click.option("--plot", "plot_out", default=None, help="Draw latency against file size as a PNG (needs matplotlib).")
@click.option("--in-process", is_flag=True, help="Measure in this process instead of a fresh one per model (emulators that cannot spawn).")
def bench(models, formats, calib, threads, batches, runs, warmup, duration, data, json_out, csv_out, plot_out, in_process):
    """Benchmark exported MODELS (.tflite, .onnx) or checkpoints, each in a fresh process.

    With no MODELS, benchmarks the models with manifests in the current folder. With one checkpoint and
    --formats, exports it to each format first and adds speed-ups against PyTorch eager from the same run.
    """
    from edgeaudio.cli import Progress
    from edgeaudio.errors import InputError
    from edgeaudio.pipeline.bench import BenchEntry, bench_checkpoint, bench_models, find_models

    def ints(text, name):
        try:
            return [int(v) for v in text.split(",")] if text else None
        except ValueError:
            raise InputError(f"--{name} takes whole numbers separated by commas, got {text!r}") from None

    thread_list, batch_list = ints(threads, "threads"), ints(batches, "batch")
    progress = Progress()
    if formats:
        if len(models) != 1:
            raise click.UsageError("--formats takes exactly one checkpoint")
        report = bench_checkpoint(models[0], [f.strip() for f in formats.split(",")], calib, thread_list, batch_list,
                                  runs, warmup, duration, progress=progress)
    else:
        paths = list(models) or find_models(".")
        report = bench_models([BenchEntry(str(p)) for p in paths], thread_list, batch_list, runs, warmup, duration, data,
                              progress, in_process)
    click.echo(render_bench(report))
    if json_out:
        from edgeaudio.atomic import write_json

        write_json(json_out, report.to_dict())
    if csv_out:
        _write_csv(csv_out, report)
    if plot_out:
        _plot(plot_out, report)


def _write_csv(path, report) -> None:
    import csv
    import io

    from edgeaudio.atomic import atomic_path

    rows = report.to_dict()["rows"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[k for k in rows[0] if k != "extra"], extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue())


def _plot(path, report) -> None:
    from edgeaudio.errors import InputError

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("--plot needs matplotlib: pip install matplotlib") from None
    from edgeaudio.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in report.rows:
        name = r.label or Path(r.model).name
        ax.scatter(r.file_mb or 0, r.p50_ms)
        ax.annotate(f"{name} t{r.threads or '-'} b{r.batch}", (r.file_mb or 0, r.p50_ms), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("file size (MB)")
    ax.set_ylabel("p50 latency (ms, log scale)")
    ax.set_yscale("log")
    ax.set_title(f"latency vs size, {report.machine.cpu} ({report.machine.arch})", fontsize=9)
    ax.grid(alpha=0.3)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
