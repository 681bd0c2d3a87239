"""`edgeaudio eval`: accuracy on labelled audio, models side by side, as a table, JSON, per-clip CSV, confusion
matrices and a JUnit gate. Runs with the runtime-only install when every model is an exported file."""

from __future__ import annotations

from pathlib import Path

import click

from edgeaudio.cli import Progress, cli, progress_bar, save_json, warn
from edgeaudio.cli.render import table
from edgeaudio.cli.reports import report_option, save_report


def _pct(value: float | None) -> str:
    return "-" if value is None or value != value else f"{100 * value:.1f}"


def _interval(estimate) -> str:
    return f"{_pct(estimate.value)} ({_pct(estimate.low)}-{_pct(estimate.high)})"


def _name(model: str) -> str:
    return Path(model).name


def render_eval(report) -> str:
    """The side-by-side table: each model's metrics with 95% intervals, its drop against the first model with the
    paired test, and the gate; then the classes each model lost most on."""
    single = report.task == "single-label"
    rows = []
    for i, m in enumerate(report.models):
        v = m.versus
        drop = "reference" if v is None else f"{100 * v.drop:+.2f} ({100 * v.low:+.1f} to {100 * v.high:+.1f})"
        p = "-" if v is None else f"{v.p_worse:.3g}"
        gate = m.gate or "-"
        if single:
            changed = "-" if v is None else f"{v.lost}/{v.gained}"
            rows.append((_name(m.model), m.format, m.precision, _interval(m.metrics["top1"]), _pct(m.metrics["top5"].value),
                         _pct(m.metrics["balanced"].value), drop, changed, p, gate))
        else:
            rows.append((_name(m.model), m.format, m.precision, _interval(m.metrics["mAP"]), drop, p, gate))
    if single:
        headers = ["model", "format", "precision", "top-1 % (95% CI)", "top-5 %", "balanced %", "drop pts (95% CI)",
                   "lost/gained", "p worse", "gate"]
        right = [False, False, False, True, True, True, True, True, True, False]
    else:
        headers = ["model", "format", "precision", "mAP % (95% CI)", "drop pts (95% CI)", "p worse", "gate"]
        right = [False, False, False, True, True, True, False]
    kind = "recall" if single else "AP"
    test = "exact one-sided McNemar on the clips whose top-1 correctness differs" if single else "paired bootstrap, one-sided"
    lines = [
        f"data: {report.data}: {report.clips} clips, {len(report.labels)} classes, {report.task}; "
        f"{report.scored} scored" + (f", {report.silent} silent" if report.silent else "")
        + (f", {len(report.unreadable)} unreadable (left out for every model)" if report.unreadable else ""),
        table(headers, rows, right),
        f"95% intervals from {report.bootstrap} bootstrap resamples of the clips (paired across models); drop = "
        f"reference minus model, in points; p worse: {test}",
    ]
    if report.max_drop is not None:
        lines.append(f"gate: a model fails when it drops more than {report.max_drop:g} points and the paired test calls the "
                     f"loss real (p < 0.05)")
    reference = report.models[0]
    for m in report.models[1:]:
        worst = _worst_classes(report.labels, reference.per_class, m.per_class)
        if worst:
            lines.append(f"{_name(m.model)}: per-class {kind} lost most: " + ", ".join(worst))
    return "\n".join(lines)


def _worst_classes(labels, reference, model, limit: int = 5) -> list[str]:
    drops = [(r - m, name, r, m) for name, r, m in zip(labels, reference, model) if r is not None and m is not None and r > m]
    return [f"{name} {100 * r:.0f}->{100 * m:.0f}%" for _, name, r, m in sorted(drops, reverse=True)[:limit]]


CLIP_COLUMNS = ["model", "file", "status", "truth", "predicted", "score", "correct", "error"]


def _write_clip_csv(path, report) -> None:
    import csv
    import io

    from edgeaudio.atomic import atomic_path

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CLIP_COLUMNS)
    for k, m in enumerate(report.models):
        for row in report.rows:
            predicted = row.predicted[k]
            correct = None if predicted is None else predicted in row.truth
            score = None if row.score[k] is None else f"{row.score[k]:.6f}"
            writer.writerow([_name(m.model), row.file, row.status, ";".join(row.truth), predicted or "", score or "",
                             "" if correct is None else int(correct), row.error or ""])
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue())


def _write_confusion(folder: Path, report) -> list[str]:
    """NAME.confusion.csv (and .png when matplotlib is installed) per model: rows true class, columns predicted,
    over the classes that occur. Returns notes for the user."""
    import csv
    import io

    import numpy as np

    from edgeaudio.atomic import atomic_path

    notes = []
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        plt = None
        notes.append("confusion matrices written as CSV only: the PNGs need matplotlib (pip install matplotlib)")
    for m in report.models:
        matrix = np.array(m.confusion)
        used = np.flatnonzero(matrix.sum(axis=0) + matrix.sum(axis=1))
        names = [report.labels[i] for i in used]
        sub = matrix[np.ix_(used, used)]
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["true \\ predicted", *names])
        for name, row in zip(names, sub):
            writer.writerow([name, *row.tolist()])
        with atomic_path(folder / f"{_name(m.model)}.confusion.csv") as tmp:
            tmp.write_text(buffer.getvalue())
        if plt is None:
            continue
        size = min(4 + 0.35 * len(names), 40)
        fig, ax = plt.subplots(figsize=(size, size))
        shown = sub / np.maximum(sub.sum(axis=1, keepdims=True), 1)
        ax.imshow(shown, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(names)), names, fontsize=7)
        if len(names) <= 40:
            for (r, c), count in np.ndenumerate(sub):
                if count:
                    ax.text(c, r, str(count), ha="center", va="center", fontsize=6, color="white" if shown[r, c] > 0.5 else "black")
        top1 = m.metrics["top1"].value
        ax.set_title(f"{_name(m.model)}: top-1 {100 * top1:.1f}% on {report.scored} clips (rows: true, share of row)", fontsize=9)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        with atomic_path(folder / f"{_name(m.model)}.confusion.png") as tmp:
            fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
    return notes


def _write_junit(path, report) -> None:
    from edgeaudio.junit import Case, write_cases

    cases = []
    for m in report.models:
        props = {f"{name}": e.value for name, e in m.metrics.items()}
        props.update({f"{name}_low": e.low for name, e in m.metrics.items()})
        props.update({f"{name}_high": e.high for name, e in m.metrics.items()})
        props.update(clips=report.scored, format=m.format, precision=m.precision)
        if m.versus is not None:
            props.update({f"drop_{report.headline}": m.versus.drop, "drop_low": m.versus.low, "drop_high": m.versus.high,
                          "p_worse": m.versus.p_worse, "test": m.versus.test, "lost": m.versus.lost, "gained": m.versus.gained})
        if report.max_drop is not None:
            props["max_drop_points"] = report.max_drop
        failures = [m.gate] if not m.passed else []
        cases.append(Case("edgeaudio.eval", _name(m.model), props, failures, "AccuracyDrop"))
    write_cases(path, "edgeaudio.eval", cases)


@cli.command("eval")
@click.argument("models", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="Labelled clips: a folder with one sub-folder per class, or a .csv/.tsv of path,label rows "
                   "(several labels per clip separated by ';' or '|', or by ',' in a quoted field).")
@click.option("--max-drop", type=float, default=None,
              help="Gate: exit 1 when a model loses more than this many points (top-1 or mAP) against the first model "
                   "and the paired test says the loss is real.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Processes to spread the clips over (each loads every model, on one thread).")
@click.option("--threads", type=int, default=None, help="Interpreter threads (with --workers 1).")
@click.option("--labels", "labels_file", type=click.Path(path_type=Path), default=None,
              help="Class names, one per line, in output order, for models that record none.")
@click.option("--frontend", default=None, help="Front-end preset for checkpoints whose front end nothing records.")
@click.option("--json", "json_out", default=None, help="Write the report as JSON (per-class figures, confusion matrices).")
@click.option("--csv", "csv_out", default=None, help="Write one CSV row per clip and model (truth, prediction, score).")
@click.option("--junit", "junit_out", default=None, help="Write JUnit XML: a test case per model, failed when the gate fails.")
@click.option("--confusion", "confusion_dir", type=click.Path(path_type=Path), default=None,
              help="Folder for each model's confusion matrix, CSV and PNG (single-label); also drawn in --report.")
@report_option()
def eval_command(models, data, max_drop, workers, threads, labels_file, frontend, json_out, csv_out, junit_out, confusion_dir, report_out):
    """Accuracy of MODELS (exported files or checkpoints) on the labelled clips of --data, side by side.

    The first model is the reference: every other one gets its drop against it, a 95% interval and a paired test
    on the same clips, so an int8 loss can be told from noise. Clips go through each model's own front end and
    windows, as in predict. Exit 0, or 1 when --max-drop fails a model, 2 for bad input.
    """
    from edgeaudio.datasets.labelled import read_class_names, read_labelled
    from edgeaudio.pipeline.evaluate import ModelSource, evaluate

    labels = tuple(read_class_names(labels_file)) if labels_file is not None else None
    sources = [ModelSource(str(m), frontend, labels, threads) for m in models]
    labelled = read_labelled(data)
    Progress()(f"scoring {len(labelled)} clips of {data} with {len(sources)} model(s)" + (f" on {workers} workers" if workers > 1 else ""))
    with progress_bar(len(labelled)) as bar:
        report = evaluate(sources, labelled, max_drop, workers, bar.update if bar is not None else lambda _n: None)
    if report.unreadable:
        shown = "; ".join(f"{Path(f).name}: {e}" for f, e in report.unreadable[:3])
        warn(f"{len(report.unreadable)} clip(s) could not be read and are left out for every model ({shown}"
             + ("; ..." if len(report.unreadable) > 3 else "") + ")")
    click.echo(render_eval(report))
    save_json(json_out, report.to_dict())
    save_report(report_out, "eval", report.to_dict(), confusion=confusion_dir is not None)
    if csv_out:
        _write_clip_csv(csv_out, report)
    if junit_out:
        _write_junit(junit_out, report)
    if confusion_dir is not None:
        if report.task != "single-label":
            warn("--confusion: a multi-label set has no confusion matrix; per-class AP is in --json")
        else:
            for note in _write_confusion(Path(confusion_dir), report):
                warn(note)
    if not report.passed:
        failed = [f"{_name(m.model)}: {m.gate.removeprefix('FAIL: ')}" for m in report.models if not m.passed]
        click.echo("FAIL: " + " | ".join(failed))
        raise click.exceptions.Exit(1)
