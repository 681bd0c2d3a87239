"""bench and verify on devices over SSH (--device): one table of model x device x threads, JSON, CSV, a plot.

Called from the bench and verify commands when --device is given; the work is edgeaudio.pipeline.fleet's.
"""

from __future__ import annotations

from pathlib import Path

import click

from edgeaudio.cli import save_json
from edgeaudio.cli.render import table


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n} B"


def render_devices(report) -> str:
    """One line per device: what it is, its state before and after, what was uploaded, or why it failed."""
    lines = []
    for run in report.runs:
        f = run.facts
        head = f"{run.device.name} ({run.device.address})"
        if f is not None:
            what = f.board or f.cpu or "unknown board"
            detail = ", ".join(x for x in (
                f.cpu if f.board else None, f"{f.arch}" if f.arch else None, f"{f.cores} cores" if f.cores else None,
                f"governor {f.governor}" if f.governor else None,
                f"{f.mem_available_mb} MB free" if f.mem_available_mb is not None else None, f.os,
                f"Python {f.python}" if f.python else None, f.interpreter,
                f"edgeaudio {f.edgeaudio}" if f.edgeaudio else "no edgeaudio") if x)
            head += f": {what} [{detail}]"
            if f.before is not None and f.after is not None and f.before.hottest_c is not None:
                head += f"; SoC {f.before.hottest_c} -> {f.after.hottest_c} C"
                if f.after.throttled is not None:
                    head += f", throttled {f.before.throttled} -> {f.after.throttled}"
            head += f"; uploaded {_mb(run.uploaded_bytes)}; {run.seconds:.1f} s"
        lines.append(head)
    return "\n".join(lines)


def errors(report) -> list[str]:
    return [f"{run.device.name}: error: {run.error}" for run in report.runs if run.error]


def render_fleet_bench(report) -> str:
    rows = []
    for r in report.rows():
        if r["status"] == "error":
            rows.append(("-", r["device"], "error", "-", "-", "-", "-", "-", "-", "-", "-", "-"))
            continue
        temps = f"{r['temp_before_c']}/{r['temp_after_c']}" if r.get("temp_before_c") is not None else "-"
        rows.append((r.get("label") or Path(r["model"]).name, r["device"], r.get("precision"), r["threads"] or "-", r["batch"],
                     f"{r['load_ms']:.0f}", f"{r['p50_ms']:.2f}", f"{r['p90_ms']:.2f}", f"{r['p99_ms']:.2f}",
                     f"{r['peak_rss_mb']:.0f}", f"{r['model_rss_mb']:.0f}", temps))
    headers = ["model", "device", "precision", "thr", "batch", "load ms", "p50 ms", "p90 ms", "p99 ms", "peak MB",
               "+model MB", "temp C before/after"]
    text = [table(headers, rows, [False, False, False] + [True] * 8 + [False]), render_devices(report), *errors(report)]
    text += [line for run in report.runs if run.ok for line in sustained_lines(run.result["rows"], run.device.name)]
    text += [line for run in report.runs if run.ok for line in profile_lines(run.result["rows"], run.device.name)]
    return "\n".join(text)


def sustained_lines(rows: list[dict], where: str | None = None) -> list[str]:
    """--sustained: per row, latency in the first and last window and the temperature it ran at."""
    lines = []
    for r in rows:
        windows = r.get("timeline")
        if not windows:
            continue
        first, last = windows[0], windows[-1]
        change = 100 * (last["p50_ms"] / first["p50_ms"] - 1) if first["p50_ms"] else 0.0
        temps = [w["temp_c"] for w in windows if w["temp_c"] is not None]
        temp = f", SoC {temps[0]} -> {temps[-1]} C (max {max(temps)})" if temps else ", no temperature sensor"
        name = (r.get("label") or Path(r["model"]).name) + (f" on {where}" if where else "")
        span = last["t_s"] + (windows[1]["t_s"] if len(windows) > 1 else 0)
        lines.append(f"sustained {name} (threads {r['threads'] or 'default'}): p50 {first['p50_ms']:.2f} ms in the first "
                     f"window, {last['p50_ms']:.2f} ms in the last ({change:+.0f}%) over {span:.1f} s in {len(windows)} windows, "
                     f"{sum(w['runs'] for w in windows)} runs{temp}")
    return lines


def profile_lines(rows: list[dict], where: str | None = None, top: int = 10) -> list[str]:
    """--profile: the slowest ops of each row, named by PyTorch module where the manifest knows it."""
    lines = []
    for r in rows:
        ops = r.get("profile")
        if not ops:
            continue
        name = (r.get("label") or Path(r["model"]).name) + (f" on {where}" if where else "")
        lines.append(f"slowest ops of {name} (threads {r['threads'] or 'default'}):")
        body = [(o["index"], o["op"], o.get("module") or "-", "-" if o["ms"] is None else f"{o['ms']:.3f}",
                 f"{100 * o['share']:.1f}%") for o in ops[:top]]
        lines.append(table(["op #", "op", "PyTorch module", "ms", "share"], body, [True, False, False, True, True]))
        total = sum(o["ms"] for o in ops if o["ms"] is not None)
        refused = [f"#{o['index']} {o['op']}: {o['error']}" for o in ops if o["ms"] is None]
        lines.append(f"each op timed alone (median of its runs): {len(ops)} ops sum to {total:.3f} ms against the whole "
                     f"model's p50 {r['p50_ms']:.3f} ms ({total / r['p50_ms']:.2f}x: each op alone pays its own call "
                     "and colder caches)" + (f"; not timed alone: {'; '.join(refused)}" if refused else ""))
    return lines


def render_fleet_verify(report) -> str:
    rows = [(r["device"], Path(r["model"]).name if r.get("model") else "-", r.get("precision", "-"), r.get("backend", "-"),
             r["status"], r.get("failures") or "") for r in report.rows()]
    return "\n".join([table(["device", "model", "precision", "interpreter", "verdict", "failures"], rows),
                      render_devices(report), *errors(report)])


def _finish(report, text: str, json_out, csv_out=None, plot_out=None) -> int:
    from edgeaudio.errors import EdgeAudioError

    click.echo(text)
    save_json(json_out, report.to_dict())
    if csv_out:
        from edgeaudio.cli.runtime_commands import write_csv

        write_csv(csv_out, report.rows())
    if plot_out:
        plot_fleet(plot_out, report)
    if report.exit_status == 2:
        error = EdgeAudioError(f"none of the {len(report.runs)} device(s) gave results (each has its error above)")
        raise error
    return report.exit_status


def bench_on_devices(devices, models, settings, audio_clip, json_out, csv_out, plot_out, progress) -> int:
    from edgeaudio.pipeline.fleet import bench_on_devices as run

    report = run(models, settings, devices.resolve(), devices.timeout, progress, audio_clip)
    if audio_clip is not None:
        if plot_out:
            raise click.UsageError("--plot draws model latency; with --audio use the table or --json")
        return _finish(report, render_fleet_audio(report), json_out, csv_out)
    return _finish(report, render_fleet_bench(report), json_out, csv_out, plot_out)


def render_fleet_audio(report) -> str:
    """bench --audio on devices: per model, device and threads, the whole clip's time, the slowest stage, and
    the real-time factor."""
    rows = []
    for r in report.rows():
        if r["status"] == "error":
            rows.append(("-", r["device"], "-", "-", "-", "-", "error"))
            continue
        slowest = max(r["stages"], key=lambda s: s["p50_ms"])
        rows.append((Path(r["model"]).name, r["device"], r["threads"] or "-", f"{r['total_p50_ms']:.2f}",
                     f"{r['total_p50_ms'] / r['windows']:.2f}", f"{r['real_time_factor']:.4f}",
                     f"{slowest['stage']} {100 * slowest['share']:.0f}%"))
    headers = ["model", "device", "thr", "p50 ms per clip", "ms per window", "real-time factor", "slowest stage"]
    return "\n".join([table(headers, rows, [False, False, True, True, True, True, False]), render_devices(report), *errors(report)])


def verify_on_devices(devices, model, threads, json_out, progress) -> int:
    from edgeaudio.pipeline.fleet import verify_on_devices as run

    report = run(model, devices.resolve(), threads, devices.timeout, progress)
    return _finish(report, render_fleet_verify(report), json_out)


def plot_fleet(path, report) -> None:
    """Grouped bars: p50 latency (p90 as the whisker) per device, one bar per model file (format and precision)."""
    from edgeaudio.errors import InputError

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("--plot needs matplotlib: pip install matplotlib") from None
    from edgeaudio.atomic import atomic_path

    rows = [r for r in report.rows() if r["status"] == "ok"]
    devices = [run.device.name for run in report.runs]  # a failed device keeps its place, labelled, without bars
    failed = {run.device.name for run in report.runs if not run.ok}
    series = list(dict.fromkeys((Path(r["model"]).name, r["threads"], r["batch"]) for r in rows))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(devices) * max(1, len(series)) ** 0.5), 4.5))
    width = 0.8 / max(1, len(series))
    for k, key in enumerate(series):
        found = {r["device"]: r for r in rows if (Path(r["model"]).name, r["threads"], r["batch"]) == key}
        xs = [i + k * width for i, d in enumerate(devices) if d in found]
        p50 = [found[d]["p50_ms"] for d in devices if d in found]
        p90 = [found[d]["p90_ms"] - found[d]["p50_ms"] for d in devices if d in found]
        ax.bar(xs, p50, width, yerr=[[0] * len(p90), p90], capsize=3,
               label=f"{key[0]} t{key[1] or '-'}" + (f" b{key[2]}" if key[2] != 1 else ""))
    ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(devices))],
                  [f"{d}\n(error)" if d in failed else d for d in devices])
    ax.set_ylabel("p50 latency, ms (whisker: p90)")
    ax.set_title("latency per device and model file", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
