"""One self-contained HTML page per result: export, verify, bench, eval.

Each page is built from a result's to_dict() (ExportResult, VerifyResult, BenchReport, EvalReport), so it knows
the JSON schema and nothing of the pipeline. Everything is inline: the stylesheet, the SVG charts; there is no
script at all, and a Content-Security-Policy meta tag forbids any other source (a CI artifact viewer, a browser
opening the file offline, a mail attachment show the same page). stdlib only: written on a device too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
from html import escape
from pathlib import Path
from typing import Callable

from edgeaudio import __version__
from edgeaudio.report.svg import Bar, ErrorRow, IntervalRow, bar_chart, error_chart, heatmap, interval_chart

KINDS = ("export", "verify", "bench", "eval")

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2430;margin:0;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:18px 24px 40px}
header{display:flex;align-items:center;gap:14px;flex-wrap:wrap}
h1{font-size:21px;margin:6px 0}
h2{font-size:16px;margin:0 0 8px}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:14px 16px;margin:14px 0;overflow-x:auto}
.verdict{font-weight:700;padding:3px 12px;border-radius:4px;color:#fff}
.verdict.pass{background:#2e7d32}.verdict.fail{background:#c62828}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0}
.facts dt{color:#5b6573}.facts dd{margin:0;word-break:break-all}
table{border-collapse:collapse;margin:8px 0;font-size:12.5px}
th,td{border-bottom:1px solid #e6e9ee;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f2f5;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.fail,li.fail{color:#c62828;font-weight:600}td.pass{color:#2e7d32}
ul.warnings li{color:#8a5a00}
.note{color:#5b6573;font-size:12.5px}
code,pre{font:12px ui-monospace,Menlo,Consolas,monospace}
pre{background:#f6f7f9;padding:8px;overflow-x:auto}
svg.chart{display:block;margin:6px 0;font:11px system-ui,sans-serif}
svg .label,svg .value{fill:#1d2430}svg .tick,svg .legend{fill:#5b6573}
svg .grid{stroke:#e6e9ee}svg .track{stroke:#eef0f3;stroke-width:8;stroke-linecap:round}
svg .pass{fill:#2e7d32}svg .fail{fill:#c62828}svg .floor{fill:#9aa3ae}svg .bound{fill:#1d2430}
svg .whisker{stroke-width:3}svg .whisker.pass{stroke:#81c784}svg .whisker.fail{stroke:#e57373}
svg .limit{stroke:#1d2430;stroke-dasharray:4 3}svg .mark{stroke:#1d2430;stroke-width:2}
svg .bar{fill:#5c85c6}svg .bar.worst{fill:#c62828}svg .bar.lost{fill:#ef8f3a}svg .bar.fp32{fill:#5c85c6}
svg .bar.fp16{fill:#8e6cc0}svg .bar.int8{fill:#2e9d8f}svg .bar.torch{fill:#9aa3ae}
svg .heat0{fill:#f6f7f9}svg .heat1{fill:#dbe7f6}svg .heat2{fill:#b4cdec}svg .heat3{fill:#7ea9dc}svg .heat4{fill:#3f7cc6}
svg .heat5{fill:#1f4f8f}svg .diag{stroke:#1d2430;stroke-width:.6}svg .count{fill:#1d2430}svg .count.light{fill:#fff}
"""


def content_security_policy(css: str = CSS) -> str:
    """Nothing may load: no scripts, no fetches, no fonts; images only from data: URIs; the one stylesheet by hash."""
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    return f"default-src 'none'; img-src data:; style-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"


# -- small HTML pieces -----------------------------------------------------------------------------------------


def _num(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if math.isinf(value):
            return "inf"
        if value != 0 and (abs(value) < 1e-2 or abs(value) >= 1e5):
            return f"{value:.{digits}g}"
        return f"{value:.{digits + 1}f}".rstrip("0").rstrip(".")
    return str(value)


def _pct(value, digits: int = 1) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.{digits}f}%"


def table(headers: list[str], rows: list[list], numeric: set[int] = frozenset(), verdict: int | None = None) -> str:
    """A table of escaped cells; columns in `numeric` right-aligned; column `verdict` coloured pass/FAIL."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            text = value if isinstance(value, str) else _num(value)
            cls = "num" if i in numeric else ""
            if i == verdict:
                cls = "fail" if text.upper().startswith("FAIL") else "pass"
            cells.append(f'<td class="{cls}">{escape(text)}</td>' if cls else f"<td>{escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def facts(pairs: list[tuple[str, object]]) -> str:
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v if isinstance(v, str) else _num(v))}</dd>" for k, v in pairs if v not in (None, ""))
    return f'<dl class="facts">{items}</dl>'


def section(ident: str, title: str, *parts: str) -> str:
    return f'<section id="{escape(ident)}"><h2>{escape(title)}</h2>{"".join(parts)}</section>'


def note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def items(lines: list[str], cls: str = "") -> str:
    return f'<ul class="{cls}">' + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ul>"


def _name(path: str | None) -> str:
    return Path(path).name if path else "-"


# -- parity ----------------------------------------------------------------------------------------------------

_METRICS = {"max_rel": "max rel", "max_abs": "max abs", "cosine": "1 - cosine"}


def parity_chart_rows(chain: list[dict]) -> tuple[list[ErrorRow], list[IntervalRow]]:
    """Every bounded figure of a chain: errors (max rel / max abs, 1 - cosine) against bound and noise floor, and
    top-1 agreements with their intervals."""
    errors, agreements = [], []
    for step in chain:
        for m in step["outputs"]:
            bounds = step.get("bounds", {}).get(m["name"], {})
            floor = step.get("noise_floor", {}).get(m["name"])
            for key, label in _METRICS.items():
                bound = bounds.get(key)
                if bound is None:
                    continue
                value = m.get(key)
                value = math.inf if value is None else value
                if key == "cosine":
                    errors.append(ErrorRow(f"{step['step']} \u00b7 {m['name']} \u00b7 {label}", max(0.0, 1 - value), 1 - bound, None,
                                           value >= bound))
                else:
                    errors.append(ErrorRow(f"{step['step']} \u00b7 {m['name']} \u00b7 {label}", value, bound, floor, value <= bound))
            if bounds.get("top1") is not None:
                agreements.append(IntervalRow(f"{step['step']} \u00b7 {m['name']}", m["agreement"], m["agreement_low"],
                                              m["agreement_high"], m["agreement_high"] >= bounds["top1"]))
    return errors, agreements


def _bound_text(bounds: dict) -> str:
    parts = [f"{label.split(' - ')[-1] if key == 'cosine' else label} {'>=' if key == 'cosine' else '<='} {_num(bounds[key])}"
             for key, label in _METRICS.items() if bounds.get(key) is not None]
    if bounds.get("top1") is not None:
        parts.append(f"top-1 >= {_pct(bounds['top1'], 0)}")
    return ", ".join(parts) or "-"


def parity_section(chain: list[dict], ident: str = "parity", title: str = "Parity chain") -> str:
    """The chain drawn (errors against floor and bound; agreement with its interval) and tabled, with failures."""
    errors, agreements = parity_chart_rows(chain)
    parts = []
    if errors:
        parts.append(error_chart(errors, "errors against their bounds and noise floors"))
    if agreements:
        top1 = min((s["bounds"][m["name"]]["top1"] for s in chain for m in s["outputs"]
                    if s.get("bounds", {}).get(m["name"], {}).get("top1") is not None), default=None)
        floor = math.floor(10 * min([0.8] + [a.low for a in agreements if a.low is not None])) / 10
        parts.append(interval_chart(agreements, "top-1 agreement with the reference", top1, floor, 1.0,
                                    bound_label="gate (fails only when the interval's top is below it)"))
    rows = []
    for step in chain:
        for m in step["outputs"]:
            failed = any(f.startswith(f"{m['name']}:") for f in step.get("failures", []))
            floor = step.get("noise_floor", {}).get(m["name"])
            snr = m.get("snr_db")
            rows.append([step["step"], m["name"], m["max_abs"], m["max_rel"], f"{m['cosine']:.6f}", "inf" if snr is None else f"{snr:.1f}",
                         f"{_pct(m['agreement'])} ({_pct(m['agreement_low'], 0)}-{_pct(m['agreement_high'], 0)}, n={m['samples']})",
                         floor, _bound_text(step.get("bounds", {}).get(m["name"], {})), "FAIL" if failed else "pass"])
    parts.append(table(["step", "output", "max abs", "max rel", "cosine", "SNR dB", "top-1 agreement (95% CI)", "noise floor", "bound", "gate"],
                       rows, {2, 3, 4, 5, 6, 7}, 9))
    references = list(dict.fromkeys(s.get("reference", "") for s in chain if s.get("reference")))
    if references:
        parts.append(note("reference: " + "; ".join(references)))
    for basis, steps in _by_basis(chain).items():
        parts.append(note(f"bounds of {', '.join(steps)}: {basis}"))
    failures = [f"{s['step']}: {f}" for s in chain for f in s.get("failures", [])]
    if failures:
        parts.append(items(failures, "failures"))
    return section(ident, title, *parts)


def _by_basis(chain: list[dict]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for step in chain:
        if step.get("basis"):
            out.setdefault(step["basis"], []).append(step["step"])
    return out


# -- accuracy --------------------------------------------------------------------------------------------------


def accuracy_section(report: dict, confusion: bool = False, ident: str = "accuracy") -> str:
    """An EvalReport's dict: the headline metric with intervals per model, the drops with their paired tests, the
    table, per-class figures, and (when asked for) each model's confusion matrix."""
    headline = report["headline"]
    single = report["task"] == "single-label"
    models = report["models"]
    parts = [facts([("data", report["data"]), ("task", report["task"]), ("clips", report["clips"]), ("scored", report["scored"]),
                    ("silent", report.get("silent")), ("classes", len(report["labels"])),
                    ("intervals", f"{_pct(report.get('confidence', 0.95), 0)} from {report.get('bootstrap')} bootstrap resamples, paired across models")])]
    parts.append(interval_chart([IntervalRow(f"{_name(m['model'])} ({m['format']} {m['precision']})", m["metrics"][headline]["value"],
                                             m["metrics"][headline]["low"], m["metrics"][headline]["high"], m.get("passed", True))
                                 for m in models], f"{headline} with 95% intervals", low=0.0, high=1.0))
    compared = [m for m in models if m.get("versus_reference")]
    if compared:
        max_drop = report.get("max_drop_points")
        rows = [IntervalRow(_name(m["model"]), 100 * m["versus_reference"]["drop"], 100 * m["versus_reference"]["low"],
                            100 * m["versus_reference"]["high"], m.get("passed", True)) for m in compared]
        parts.append(interval_chart(rows, "drop against the reference, points", max_drop, percent=False,
                                    bound_label=f"--max-drop {_num(max_drop)} points"))
    rows = []
    for m in models:
        v = m.get("versus_reference")
        metric = m["metrics"][headline]
        drop = "reference" if v is None else f"{100 * v['drop']:+.2f} ({100 * v['low']:+.1f} to {100 * v['high']:+.1f})"
        row = [_name(m["model"]), m["format"], m["precision"], f"{_pct(metric['value'])} ({_pct(metric['low'])}-{_pct(metric['high'])})"]
        if single:
            row += [_pct(m["metrics"].get("top5", {}).get("value")), _pct(m["metrics"].get("balanced", {}).get("value")),
                    drop, "-" if v is None else f"{v.get('lost')}/{v.get('gained')}"]
        else:
            row += [drop]
        row += ["-" if v is None else _num(v["p_worse"]), m.get("gate") or "-"]
        rows.append(row)
    headers = ["model", "format", "precision", f"{headline} (95% CI)"]
    headers += ["top-5", "balanced", "drop pts (95% CI)", "lost/gained"] if single else ["drop pts (95% CI)"]
    headers += ["p worse", "gate"]
    parts.append(table(headers, rows, set(range(3, len(headers) - 1)), len(headers) - 1))
    if compared:
        parts.append(note(f"drop = reference minus model; p worse: {compared[0]['versus_reference'].get('test', '')}"))
    parts.append(_per_class(report, single))
    if report.get("unreadable"):
        parts.append(note(f"{len(report['unreadable'])} clip(s) could not be read and were left out for every model:"))
        parts.append(items([f"{_name(u['file'])}: {u['error']}" for u in report["unreadable"]]))
    if confusion and single:
        for m in models:
            if m.get("confusion"):
                parts.append(_confusion(m, report["labels"]))
    return section(ident, "Accuracy", *parts)


def _per_class(report: dict, single: bool, limit: int = 40) -> str:
    """Per-class recall (single-label) or AP (multi-label) of every model, side by side; the classes whose figure
    varies most first when there are more than `limit`."""
    models = report["models"]
    labels = report["labels"]
    figures = [m.get("per_class") or [None] * len(labels) for m in models]
    present = all_present = [i for i in range(len(labels)) if any(f[i] is not None for f in figures)]
    if len(present) > limit:
        def spread(i: int) -> float:
            known = [f[i] for f in figures if f[i] is not None]
            return max(known) - min(known) if known else 0.0

        present = sorted(sorted(present, key=spread, reverse=True)[:limit])
    kind = "recall" if single else "AP"
    rows = [[labels[i]] + [_pct(f[i], 0) for f in figures] for i in present]
    text = f"per-class {kind}" + (f" ({limit} classes whose figure differs most between models)" if len(present) < len(all_present) else "")
    return note(text) + table(["class"] + [_name(m["model"]) for m in models], rows, set(range(1, len(models) + 1)))


def _confusion(model: dict, labels: list[str]) -> str:
    matrix = model["confusion"]
    used = [i for i in range(len(labels)) if sum(matrix[i]) or sum(row[i] for row in matrix)]
    sub = [[matrix[r][c] for c in used] for r in used]
    title = f"confusion matrix: {_name(model['model'])} ({model['format']} {model['precision']})"
    return f"<h3>{escape(title)}</h3>" + heatmap(sub, [labels[i] for i in used], title)


# -- per kind --------------------------------------------------------------------------------------------------


def _export(data: dict, context: dict) -> list[str]:
    d = data.get("data") or {}
    parts = [section("summary", "Export", facts([("checkpoint", data.get("source")), ("found", data.get("found")),
                                                  ("output folder", data.get("out_dir"))]))]
    if data.get("warnings"):
        parts.append(section("warnings", "Warnings", items(data["warnings"], "warnings")))
    calibration = [("data", d.get("source")), ("kind", d.get("kind")), ("calibration samples", d.get("calibration_samples")),
                   ("held-out samples (every gate)", d.get("held_out_samples"))]
    options = context.get("options") or {}
    if options:
        calibration += [("range method", options.get("calib_method")), ("equalized", "yes" if options.get("equalize") else "no")]
    skipped = d.get("skipped_files") or []
    body = [facts(calibration)]
    if skipped:
        body.append(note(f"{len(skipped)} file(s) left out of the calibration:"))
        body.append(items([s if isinstance(s, str) else json.dumps(s) for s in skipped]))
    if data.get("calibration"):  # the ranges tried, when the export records them
        body.append(_records(data["calibration"]))
    parts.append(section("calibration", "Calibration", *body))
    parts.append(parity_section(data.get("chain") or []))
    models = data.get("models") or []
    if models:
        bars = [Bar(_name(m["path"]), m["size_bytes"] / 1e6, f"bar {m['precision']}") for m in models]
        parts.append(section("sizes", "Files written", bar_chart(bars, "file sizes", "MB", "file size, MB; colour: precision"),
                             table(["file", "format", "precision", "MB", "sha256"],
                                   [[_name(m["path"]), m["format"], m["precision"], f"{m['size_bytes'] / 1e6:.3f}", m["sha256"][:16]]
                                    for m in models], {3})))
    else:
        parts.append(section("sizes", "Files written", note("none: the export wrote no model")))
    if data.get("evaluation"):
        parts.append(accuracy_section(data["evaluation"], context.get("confusion", False)))
    stages = data.get("stages") or []
    if stages:
        parts.append(section("stages", "Time per stage", bar_chart([Bar(s["stage"], s["seconds"]) for s in stages], "seconds per stage", "s", "wall-clock seconds per stage")))
    return parts


def _records(records) -> str:
    """A list of flat dicts (e.g. calibration tries) as a table of their keys, in first-seen order."""
    if isinstance(records, dict):
        records = [records]
    keys = list(dict.fromkeys(k for r in records if isinstance(r, dict) for k in r))
    rows = [[r.get(k) if not isinstance(r.get(k), (dict, list)) else json.dumps(r.get(k)) for k in keys] for r in records if isinstance(r, dict)]
    return table(keys, rows)


def _verify(data: dict, context: dict) -> list[str]:
    check = data["check"]
    parts = [section("summary", "Verify", facts([("model", data.get("model")), ("format", data.get("format")), ("precision", data.get("precision")),
                                                  ("backend", data.get("backend")), ("reference", data.get("reference")),
                                                  ("calibration", data.get("calibration"))]))]
    if data.get("warnings"):
        parts.append(section("warnings", "Warnings", items(data["warnings"], "warnings")))
    parts.append(parity_section([check]))
    if data.get("per_layer"):
        parts.append(per_layer_section(data["per_layer"]))
    if data.get("input_rounding"):
        rounding = data["input_rounding"]
        extra = [] if rounding["passed"] else [note(
            "the float model fails the int8 gate from its input rounding alone: no conversion setting can meet it; "
            "train it to be robust to its input (input noise, mixup, quantisation-aware training) or wider")]
        parts.append(parity_section([rounding], "input-rounding", "Input rounding alone (the fp32 twin on inputs rounded to the int8 grid)"))
        parts += extra
    return parts


def per_layer_section(layers: list[dict], worst: int = 15) -> str:
    """SQNR of every int8 layer against the float twin in execution order, named by PyTorch module where known; the
    worst layers and the ones that lose most themselves coloured, and the worst tabled."""
    def sqnr(layer: dict) -> float:
        return math.inf if layer.get("sqnr_db") is None else layer["sqnr_db"]

    ranked = sorted(range(len(layers)), key=lambda i: sqnr(layers[i]))
    worst_set = set(ranked[:5])
    bars = []
    for i, layer in enumerate(layers):
        drop = layer.get("drop_db")
        cls = "bar worst" if i in worst_set else "bar lost" if drop is not None and drop >= 3 else "bar"
        label = f"{layer['op_index']} {layer['op']} \u00b7 {layer.get('module') or layer['tensor']}"
        bars.append(Bar(label, sqnr(layer), cls, note="" if drop is None else f"({drop:+.1f} dB here)"))
    chart = bar_chart(bars, "per-layer SQNR of the int8 model against its fp32 twin", "dB",
                      "SQNR dB in execution order (higher is better); red: the 5 worst, orange: lost 3 dB or more in this op")
    rows = [[rank + 1, layers[i]["op_index"], layers[i]["op"], f"{sqnr(layers[i]):.1f}",
             "-" if layers[i].get("drop_db") is None else f"{layers[i]['drop_db']:+.1f}", "x".join(map(str, layers[i].get("shape", []))),
             layers[i].get("module") or "-", _tail(layers[i]["tensor"])] for rank, i in enumerate(ranked[:worst])]
    return section("per-layer", "Per-layer SQNR", chart,
                   note(f"the worst {min(worst, len(layers))} of {len(layers)} layers (drop = dB lost in this op):"),
                   table(["rank", "op#", "op", "SQNR dB", "drop", "shape", "PyTorch module", "TFLite tensor"], rows, {0, 1, 3, 4}))


_MS = ("load_ms", "first_ms", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms")


def _tail(text: str, most: int = 48) -> str:
    return text if len(text) <= most else "\u2026" + text[-(most - 1):]


def _row_label(row: dict) -> str:
    return f"{row.get('label') or _name(row['model'])} \u00b7 {row.get('threads') or 'default'} thr \u00b7 batch {row.get('batch', 1)}"


def _bench(data: dict, context: dict) -> list[str]:
    m = data.get("machine") or {}
    s = data.get("settings") or {}
    rows = data.get("rows") or []
    parts = [section("summary", "Benchmark", facts([("machine", f"{m.get('cpu')}, {m.get('arch')}, {m.get('cores')} cores"),
                                                     ("board", m.get("board")), ("clock MHz", m.get("clock_mhz")),
                                                     ("temperature C", m.get("temperature_c")), ("Python", m.get("python")),
                                                     ("timed runs", s.get("runs")), ("warm-up runs", s.get("warmup")),
                                                     ("duration s", s.get("duration_s")), ("isolation", s.get("isolation"))]))]
    if data.get("notes"):
        parts.append(section("notes", "Notes", items(data["notes"])))
    latency = [Bar(_row_label(r), r["p50_ms"], f"bar {_precision_class(r)}", (r["p90_ms"], r["p99_ms"]),
                   "" if r.get("speedup_vs_torch") is None else f"{r['speedup_vs_torch']:.2f}x vs torch") for r in rows]
    parts.append(section("latency", "Latency per format and threads",
                         bar_chart(latency, "p50 latency per model, threads and batch", "ms",
                                   "p50 latency, ms (ticks: p90 and p99); colour: precision"),
                         table(["model", "precision", "backend", "threads", "batch", "load ms", "first ms", "p50 ms", "p90 ms", "p99 ms",
                                "mean ms", "std ms", "items/s", "vs torch", "parity vs original"],
                               [[r.get("label") or _name(r["model"]), r["precision"], r["backend"] + (f" +{r['delegate']}" if r.get("delegate") else ""),
                                 r.get("threads") or "default", r.get("batch"), *[f"{r[k]:.2f}" for k in _MS], f"{r['throughput_per_s']:.1f}",
                                 "-" if r.get("speedup_vs_torch") is None else f"{r['speedup_vs_torch']:.2f}x", r.get("parity") or "-"]
                                for r in rows], set(range(3, 14)), 14),
                         note(f"inference call only, after warm-up; {data.get('counting_rule', '')}")))
    files = list({(r.get("label") or _name(r["model"])): r for r in rows}.values())
    parts.append(section("sizes", "Size and memory",
                         bar_chart([Bar(r.get("label") or _name(r["model"]), r.get("file_mb"), f"bar {_precision_class(r)}") for r in files],
                                   "file size per model", "MB", "file size, MB; colour: precision"),
                         bar_chart([Bar(_row_label(r), r.get("peak_rss_mb"), f"bar {_precision_class(r)}", note=f"+{r.get('model_rss_mb', 0):.0f} MB model")
                                    for r in rows], "peak resident memory per run", "MB", "peak resident memory, MB (+ what loading the model added)"),
                         table(["model", "MB", "params", "MMACs", "input", "output"],
                               [[r.get("label") or _name(r["model"]), r.get("file_mb"), r.get("params"),
                                 None if r.get("macs") is None else round(r["macs"] / 1e6), r.get("input_dtype"), r.get("output_dtype")] for r in files],
                               {1, 2, 3})))
    measured = [r for r in rows if r.get("accuracy")]
    if measured:
        metric = measured[0]["accuracy"]["metric"]
        per_model = list({(r.get("label") or _name(r["model"])): r for r in measured}.values())
        parts.append(section("accuracy", "Accuracy",
                             interval_chart([IntervalRow(r.get("label") or _name(r["model"]), r["accuracy"]["value"], r["accuracy"]["low"],
                                                         r["accuracy"]["high"]) for r in per_model], f"{metric} with 95% intervals", low=0.0, high=1.0),
                             table(["model", f"{metric} (95% CI)", "clips", "drop pts", "p worse"],
                                   [[r.get("label") or _name(r["model"]),
                                     f"{_pct(r['accuracy']['value'])} ({_pct(r['accuracy']['low'])}-{_pct(r['accuracy']['high'])})",
                                     r["accuracy"].get("clips"), "-" if r["accuracy"].get("drop") is None else f"{100 * r['accuracy']['drop']:+.2f}",
                                     r["accuracy"].get("p_worse")] for r in per_model], {1, 2, 3, 4})))
    return parts


def _precision_class(row: dict) -> str:
    return "torch" if row.get("format") == "torch" else str(row.get("precision") or "fp32")


def _eval(data: dict, context: dict) -> list[str]:
    return [accuracy_section(data, context.get("confusion", False))]


_KINDS: dict[str, Callable[[dict, dict], list[str]]] = {"export": _export, "verify": _verify, "bench": _bench, "eval": _eval}


def _passed(kind: str, data: dict) -> bool | None:
    if kind == "bench":
        return None if not any(r.get("parity") for r in data.get("rows", [])) else not any(
            (r.get("parity") or "").startswith("FAIL") for r in data["rows"])
    return data.get("passed")


def render_report(kind: str, data: dict, context: dict | None = None) -> str:
    """The page of one result: `kind` one of KINDS, `data` the result's to_dict(). `context` adds what the command
    knew beside the result: "command" (the command line), "options" (its options by name), "confusion" (draw
    confusion matrices)."""
    if kind not in _KINDS:
        raise ValueError(f"unknown report kind {kind!r}; one of {', '.join(KINDS)}")
    context = context or {}
    passed = _passed(kind, data)
    verdict = "" if passed is None else f'<span class="verdict {"pass" if passed else "fail"}">{"PASS" if passed else "FAIL"}</span>'
    subject = data.get("source") or data.get("model") or data.get("data") or ""
    title = f"edgeaudio {kind}" + (f": {_name(str(subject))}" if subject else "")
    header = f"<header><h1>{escape(title)}</h1>{verdict}</header>"
    if context.get("command"):
        header += f"<p class=\"note\"><code>{escape(context['command'])}</code></p>"
    body = "".join(_KINDS[kind](data, context))
    raw = f"<details><summary>the result as JSON</summary><pre>{escape(json.dumps(data, indent=1, default=str, allow_nan=True))}</pre></details>"
    footer = f'<p class="note">written by edgeaudio {escape(__version__)}; self-contained: no script, nothing loaded from elsewhere.</p>'
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{escape(content_security_policy())}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
            f"<style>{CSS}</style></head><body><main>{header}{body}{section('raw', 'Raw result', raw)}{footer}</main></body></html>\n")


def write_report(path: str | os.PathLike, kind: str, data: dict, context: dict | None = None) -> Path:
    """Render and write the page atomically (nothing half-written at `path`); returns the path."""
    from edgeaudio.atomic import atomic_path

    page = render_report(kind, data, context)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return Path(path)
