"""Commands that run on a device with the runtime-only install: predict."""

from __future__ import annotations

from pathlib import Path

import click

from edgeaudio.cli import cli, progress_bar, save_json
from edgeaudio.cli.device_options import device_options
from edgeaudio.cli.render import table
from edgeaudio.cli.reports import report_option, save_report


def render_predictions(predictions) -> str:
    rows = []
    for p in predictions:
        if p.error:
            rows.append((Path(p.file).name, "clip", "error", p.error))
            continue
        rows.append((Path(p.file).name, "clip", p.status, ", ".join(f"{s.label} {s.score:.2f}" for s in p.top)))
        for start, top in p.windows:
            rows.append(("", f"{start:.2f}s", "", ", ".join(f"{s.label} {s.score:.2f}" for s in top)))
    return table(["clip", "window", "status", "top labels (score)"], rows)


PREDICTION_COLUMNS = ["file", "status", "seconds", "label", "score", "top", "silent", "error"]


def _csv_row(p) -> dict:
    first = p.top[0] if p.top else None
    return {"file": p.file, "status": p.status, "seconds": round(p.seconds, 3), "label": first and first.label,
            "score": first and round(first.score, 6), "top": ";".join(f"{s.label}:{s.score:.4f}" for s in p.top),
            "silent": p.silent, "error": p.error}


@cli.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("clips", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--top-k", type=click.IntRange(1, 100), default=5, show_default=True)
@click.option("--threads", type=int, default=None, help="Interpreter threads.")
@click.option("--json", "json_out", default=None,
              help="Write the predictions as JSON: a .jsonl (or .ndjson) file gets one line per clip as it finishes; "
                   "a .json file one document at the end.")
@click.option("--csv", "csv_out", default=None, help="Write one CSV row per clip as it finishes.")
def predict(model, clips, top_k, threads, json_out, csv_out):
    """Top labels of each audio CLIP (and each window of a long clip) from an exported MODEL (.tflite or .onnx).

    CLIPS are files (WAV, FLAC, OGG, Opus, MP3, AIFF, at any rate from 4 kHz) or folders, walked for audio in
    path order. The front end and labels come from the model's manifest. A clip that cannot be read gets an
    error row and the others go on; a silent clip is predicted and flagged. Exit status: 0 every clip was
    predicted, 1 some could not be read, 2 none could (or the model or an option is wrong).
    """
    import contextlib

    from edgeaudio.audio import audio_files
    from edgeaudio.errors import InputError
    from edgeaudio.pipeline.predict import BatchSummary, Predictor, predict_stream
    from edgeaudio.streams import CsvRows, JsonLines, is_json_lines

    files = audio_files(list(clips))
    predictor = Predictor(model, threads)
    summary, finished = BatchSummary(), []
    streaming_json = json_out and is_json_lines(json_out)
    with contextlib.ExitStack() as outputs:
        jsonl = outputs.enter_context(JsonLines(json_out)) if streaming_json else None
        rows = outputs.enter_context(CsvRows(csv_out, PREDICTION_COLUMNS)) if csv_out else None
        bar = outputs.enter_context(progress_bar(len(files)))
        try:
            for p in predict_stream(predictor, files, top_k, summary):
                finished.append(p)
                if jsonl:
                    jsonl.write(p.to_dict())
                if rows:
                    rows.write(_csv_row(p))
                if bar is not None:
                    bar.update(1)
        finally:
            if json_out and not streaming_json:  # also on Ctrl-C: what finished, marked incomplete
                from edgeaudio.atomic import write_json

                write_json(json_out, {"model": str(model), "complete": len(finished) == len(files),
                                      "summary": summary.to_dict(), "clips": [p.to_dict() for p in finished]})
    if summary.failed == summary.clips:
        if summary.clips == 1:
            raise InputError(finished[0].error, finished[0].file)
        click.echo(render_predictions(finished))
        raise InputError(f"none of the {summary.clips} clips could be read (each has its error row above)")
    click.echo(render_predictions(finished))
    tail = [f"{summary.clips} clips, {summary.seconds_of_audio:.1f} s of audio in {summary.wall_seconds:.2f} s"]
    if summary.silent:
        tail.append(f"{summary.silent} silent (predicted, flagged)")
    if summary.failed:
        tail.append(f"{summary.failed} could not be read (exit status 1)")
    click.echo("; ".join(tail))
    return 1 if summary.failed else 0


def _accuracy_cell(accuracy: dict | None) -> str:
    if not accuracy:
        return "-"
    return f"{100 * accuracy['value']:.1f} ({100 * accuracy['low']:.1f}-{100 * accuracy['high']:.1f})"


def render_bench(report) -> str:
    from edgeaudio.cli.render import table

    ratios = report.speedups()
    with_parity = any(r.parity for r in report.rows)
    with_accuracy = any(r.accuracy for r in report.rows)
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
            + ((r.parity or "-",) if with_parity else ())
            + ((_accuracy_cell(r.accuracy),) if with_accuracy else ())
        )
    headers = ["model", "precision", "backend", "thr", "batch", "MB", "params", "MMACs", "load ms", "first ms",
               "p50 ms", "p90 ms", "p99 ms", "mean±std", "items/s", "peak MB", "+model MB", "vs torch"]
    if with_parity:
        headers.append("parity vs original")
    if with_accuracy:
        metric = next(r.accuracy["metric"] for r in report.rows if r.accuracy)
        headers.append(f"{'top-1' if metric == 'top1' else metric} % (95% CI)")
    m = report.machine
    head = f"machine: {m.cpu}, {m.arch}, {m.cores} cores" + (f", {m.board}" if m.board else "") + (
        f", {m.clock_mhz:.0f} MHz" if m.clock_mhz else "") + (f", {m.temperature_c} C" if m.temperature_c is not None else "")
    temps = [(r.temp_before_c, r.temp_after_c) for r in report.rows if r.temp_before_c is not None]
    lines = [head, table(headers, rows, [False, False, False] + [True] * 15 + [False] * with_parity + [True] * with_accuracy)]
    if temps:
        lines.append("SoC temperature before/after each run (C): " + ", ".join(f"{a}/{b}" for a, b in temps))
    lines.append(f"latency over {report.rows[0].runs if report.rows else 0}+ timed runs after warm-up, inference call only; "
                 f"{report.counting_rule}")
    lines += [f"note: {n}" for n in report.notes]
    from edgeaudio.cli.device_commands import profile_lines, sustained_lines

    rows = [r.to_dict() for r in report.rows]
    return "\n".join(lines + sustained_lines(rows) + profile_lines(rows))


@cli.command()
@click.argument("models", nargs=-1, type=click.Path(path_type=Path))
@click.option("--formats", default=None, help="With one checkpoint: export and bench these, comma-separated: torch,onnx,onnx-int8,tflite-fp32,tflite-fp16,tflite-int8,executorch-fp32,executorch-int8.")
@click.option("--calib", default=None, help="Calibration data for the int8 formats (see export); generated if absent.")
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
@click.option("--audio", "audio_clip", default=None, type=click.Path(path_type=Path),
              help="Time audio in to labels out on this clip, stage by stage (decode, resample, front end, model, "
                   "post-processing), with the real-time factor.")
@click.option("--eval", "eval_data", default=None, help="Labelled clips (a folder per class, or a CSV): add each model's "
              "accuracy, the first model as the reference (see edgeaudio eval).")
@click.option("--labels", "labels_file", type=click.Path(path_type=Path), default=None,
              help="Class names, one per line, in output order, for models that record none (with --eval).")
@click.option("--frontend", default=None, help="Front-end preset for a checkpoint whose front end nothing records.")
@click.option("--sustained", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              help="Run back to back for SECONDS and report latency and temperature over time (does it throttle?).")
@click.option("--profile", is_flag=True, help="Time per op of TFLite models, slowest first, named by PyTorch module.")
@device_options
@report_option()
def bench(models, formats, calib, threads, batches, runs, warmup, duration, data, json_out, csv_out, plot_out, in_process,
          audio_clip, eval_data, labels_file, frontend, sustained, profile, devices, report_out):
    """Benchmark exported MODELS (.tflite, .onnx) or checkpoints, each in a fresh process.

    With no MODELS, benchmarks the models with manifests in the current folder. With one checkpoint and
    --formats, exports it to each format first and adds speed-ups against PyTorch eager from the same run.
    With --device, each device over SSH runs the same bench with its own edgeaudio (see docs/devices.md).
    """
    from edgeaudio.cli import Progress
    from edgeaudio.pipeline.bench import BenchEntry, BenchSettings, bench_checkpoint, bench_models, find_models

    labels = None
    if labels_file is not None:
        from edgeaudio.datasets.labelled import read_class_names

        labels = tuple(read_class_names(labels_file))
    if sustained is not None and duration is not None:
        raise click.UsageError("--sustained SECONDS is --duration with latency over time: give one of them")
    settings = BenchSettings(threads=tuple(_ints(threads, "threads") or [None]), batches=tuple(_ints(batches, "batch")),
                             runs=runs, warmup=warmup, duration=sustained if sustained is not None else duration, data=data,
                             in_process=in_process, eval_data=eval_data, labels=labels, frontend=frontend,
                             timeline=sustained is not None, profile=profile)
    progress = Progress()
    if devices.names:
        if formats:
            raise click.UsageError("--formats exports here; export first, then bench the exported files with --device")
        if report_out:
            raise click.UsageError("--report draws one machine's benchmark; for devices, use --json, --csv and --plot")
        from edgeaudio.cli.device_commands import bench_on_devices

        return bench_on_devices(devices, list(models) or find_models("."), settings, audio_clip, json_out, csv_out, plot_out, progress)
    if audio_clip is not None:
        if report_out:
            raise click.UsageError("--report draws the models' benchmark; with --audio, write the stages with --json")
        _bench_audio(list(models) or find_models("."), audio_clip, list(settings.threads), runs, warmup, json_out)
        return
    if formats:
        if len(models) != 1:
            raise click.UsageError("--formats takes exactly one checkpoint")
        report = bench_checkpoint(models[0], [f.strip() for f in formats.split(",")], settings, calib, progress=progress)
    else:
        paths = list(models) or find_models(".")
        report = bench_models([BenchEntry(str(p)) for p in paths], settings, progress)
    click.echo(render_bench(report))
    save_json(json_out, report.to_dict())
    save_report(report_out, "bench", report.to_dict())
    if csv_out:
        write_csv(csv_out, report.to_dict()["rows"])
    if plot_out:
        _plot(plot_out, report)


def _ints(text: str | None, name: str) -> list[int] | None:
    from edgeaudio.errors import InputError

    try:
        return [int(v) for v in text.split(",")] if text else None
    except ValueError:
        raise InputError(f"--{name} takes whole numbers separated by commas, got {text!r}") from None


def render_latency(result) -> str:
    rows = [(s.stage, f"{s.p50_ms:.2f}", f"{s.p90_ms:.2f}", f"{s.per_window_ms:.2f}", f"{100 * s.share:.0f}%")
            for s in result.stages]
    rows.append(("total", f"{result.total_p50_ms:.2f}", f"{result.total_p90_ms:.2f}",
                 f"{result.total_p50_ms / result.windows:.2f}", "100%"))
    head = (f"{Path(result.model).name} ({result.backend}, threads {result.threads or 'default'}): "
            f"{Path(result.clip).name}, {result.clip_seconds:.2f} s at {result.file_rate} Hz -> {result.model_rate} Hz, "
            f"{result.windows} window(s), {result.runs} runs")
    rtf = result.real_time_factor
    tail = (f"real-time factor {rtf:.4f} (compute seconds per second of audio"
            + (f"; {1 / rtf:.0f}x faster than real time)" if rtf > 0 else ")"))
    return "\n".join([head, table(["stage", "p50 ms per clip", "p90 ms", "ms per window", "share"], rows,
                                  [False, True, True, True, True]), tail])


def _bench_audio(models, clip, threads, runs, warmup, json_out) -> None:
    from edgeaudio.pipeline.latency import measure_audio_latency

    results = [measure_audio_latency(m, clip, t, runs, warmup) for m in models for t in threads]
    click.echo("\n\n".join(render_latency(r) for r in results))
    save_json(json_out, {"clip": str(clip), "results": [r.to_dict() for r in results]})


def write_csv(path, rows: list[dict]) -> None:
    """Rows of dicts as CSV (`extra` and list columns such as timeline and profile left out), written atomically."""
    import csv
    import io

    from edgeaudio.atomic import atomic_path

    buffer = io.StringIO()
    nested = {"extra", "timeline", "profile"} | {k for row in rows for k, v in row.items() if isinstance(v, list)}
    columns = [k for k in dict.fromkeys(k for row in rows for k in row) if k not in nested]  # rows may differ (error rows)
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
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
