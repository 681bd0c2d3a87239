"""One self-contained HTML page per result: export, verify, bench, eval.

Each page is built from a result's to_dict() (ExportResult, VerifyResult, BenchReport, EvalReport), so it knows
the JSON schema and nothing of the pipeline. Everything is inline: the stylesheet, the SVG charts; there is no
script at all, and a Content-Security-Policy meta tag forbids any other source (a CI artifact viewer, a browser
opening the file offline, a mail attachment show the same page). stdlib only: written on a device too.

This module lays out each kind's page; the sections several kinds share are in sections.py, the escaped HTML
pieces in markup.py, the charts in svg.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from html import escape
from pathlib import Path
from typing import Callable

from edgeaudio import __version__
from edgeaudio.report.markup import facts, items, name_of, note, pct, section, table
from edgeaudio.report.sections import accuracy_section, parity_section, per_layer_section
from edgeaudio.report.svg import Bar, ErrorRow, IntervalRow, bar_chart, error_chart, interval_chart

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
td.fail,ul.failures li{color:#c62828;font-weight:600}td.pass{color:#2e7d32}
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


def _export(data: dict, context: dict) -> list[str]:
    """An ExportResult's page: verdict and failure, calibration and its tries, the parity chain, files, accuracy, stages."""
    summary = [facts([("checkpoint", data.get("source")), ("found", data.get("found")), ("output folder", data.get("out_dir"))])]
    if data.get("failure"):
        summary.append(items([data["failure"]], "failures"))
    parts = [section("summary", "Export", *summary)]
    if data.get("warnings"):
        parts.append(section("warnings", "Warnings", items(data["warnings"], "warnings")))
    parts.append(_calibration(data, context.get("options") or {}))
    parts += _float_layers(data)
    parts.append(parity_section(data.get("chain") or []))
    parts += _input_rounding(data.get("plan") or [])
    models = data.get("models") or []
    if models:
        bars = [Bar(name_of(m["path"]), m["size_bytes"] / 1e6, f"bar {m['precision']}") for m in models]
        parts.append(section("sizes", "Files written", bar_chart(bars, "file sizes", "MB", "file size, MB; colour: precision"),
                             table(["file", "format", "precision", "MB", "sha256"],
                                   [[name_of(m["path"]), m["format"], m["precision"], f"{m['size_bytes'] / 1e6:.3f}", m["sha256"][:16]]
                                    for m in models], {3})))
    else:
        parts.append(section("sizes", "Files written", note("none: " + ("a gate failed, so the export wrote no model" if data.get("failure")
                                                                        else "the export wrote no model"))))
    if data.get("evaluation"):
        parts.append(accuracy_section(data["evaluation"], context.get("confusion", False)))
    stages = data.get("stages") or []
    if stages:
        parts.append(section("stages", "Time per stage", bar_chart([Bar(s["stage"], s["seconds"]) for s in stages], "seconds per stage", "s",
                                                                   "wall-clock seconds per stage", log=False)))
    return parts


def _calibration(data: dict, options: dict) -> str:
    """What int8 was calibrated on, and per planned file how its ranges were chosen: the method asked for, the one
    kept, and every method tried (judged on calibration samples apart from the held-out ones) with its numbers."""
    d = data.get("data") or {}
    plan = data.get("plan") or []
    rows = [("data", d.get("source")), ("kind", d.get("kind")), ("calibration samples", d.get("calibration_samples")),
            ("held-out samples (every gate)", d.get("held_out_samples"))]
    if options:
        rows.append(("equalized", "yes" if options.get("equalize") else "no"))
    body = [facts(rows)]
    skipped = d.get("skipped_files") or []
    if skipped:
        body += [note(f"{len(skipped)} file(s) left out of the calibration:"), items([s if isinstance(s, str) else json.dumps(s) for s in skipped])]
    if plan:
        body.append(table(["file", "starts from", "range method asked", "range method used", "methods tried"],
                          [[p.get("name"), p.get("starts_from") or "-", p.get("calib_method") or "-", p.get("calib_method_used") or "-",
                            ", ".join(t["method"] for t in p.get("tries") or []) or "-"] for p in plan]))
    tries = [(p, t) for p in plan for t in p.get("tries") or []]
    if tries:  # drawn against the cosine bound the chain's int8 steps were held to
        gate = min((b["cosine"] for s in data.get("chain") or [] for b in s.get("bounds", {}).values() if b.get("cosine") is not None), default=None)
        body.append(error_chart([ErrorRow(f"{p.get('name')} \u00b7 {t['method']} \u00b7 1 - cosine", max(0.0, 1 - t["cosine"]),
                                          None if gate is None else 1 - gate, None, t["passed"]) for p, t in tries],
                                "range methods tried: 1 - cosine against the int8 gate"))
        body.append(table(["file", "method", "cosine", "top-1 agreement", "gate", "seconds", "kept", "why it failed"],
                          [[p.get("name"), t["method"], f"{t['cosine']:.6f}", pct(t["agreement"]), "pass" if t["passed"] else "FAIL", t["seconds"],
                            "yes" if t["method"] == p.get("calib_method_used") else "", "; ".join(t.get("failures") or [])] for p, t in tries],
                          {2, 3, 5}, 4))
        body.append(note("each method tried calibrates on three calibration samples in four and is judged on the fourth, "
                         "against the export-form PyTorch model; the held-out samples are kept for the final gate"))
    for p in plan:
        rounding = p.get("input_rounding")
        if isinstance(rounding, dict):
            below = "; the fp32 twin on inputs rounded to that grid is in 'Input rounding alone' below" if rounding.get("outputs") else ""
            body.append(note(f"{p.get('name')}: the int8 input grid clips {pct(rounding.get('clipped_input_share'))} of the held-out input "
                             f"values{below}"))
            if rounding.get("diagnosis"):
                body.append(items([rounding["diagnosis"]], "failures"))
    return section("calibration", "Calibration", *body)


def _float_layers(data: dict) -> list[str]:
    """Per int8 file that kept layers float or searched for them: the layers ranked by the SQNR they lose, each set
    tried (drawn against the int8 gate's cosine bound) and the set kept."""
    out = []
    gate = min((b["cosine"] for s in data.get("chain") or [] for b in s.get("bounds", {}).values() if b.get("cosine") is not None), default=None)
    for p in data.get("plan") or []:
        search = p.get("float_layer_search")
        if not search and not p.get("float_layers"):
            continue
        kept = ", ".join(p.get("float_layers") or []) or "none"
        body = [facts([("layers kept float", kept), ("MACs budget", pct((search or {}).get("max_float_macs"))),
                       ("outcome", (search or {}).get("why") or "kept float: " + kept)])]
        if search and search.get("tries"):
            body.append(error_chart([ErrorRow(" + ".join(t["layers"]), max(0.0, 1 - t["cosine"]), None if gate is None else 1 - gate, None,
                                              t["passed"]) for t in search["tries"]], "layers kept float: 1 - cosine against the int8 gate"))
            body.append(table(["layers kept float", "share of MACs", "cosine", "top-1 agreement", "gate", "seconds"],
                              [[" + ".join(t["layers"]), pct(t["macs_share"], 2), f"{t['cosine']:.6f}", pct(t["agreement"]),
                                "pass" if t["passed"] else "FAIL", t["seconds"]] for t in search["tries"]], {1, 2, 3, 5}, 4))
        if search and search.get("ranking"):
            body.append(table(["PyTorch module", "SQNR lost, dB", "share of MACs"],
                              [[r["module"], f"{r['loss_db']:.2f}", pct(r["macs_share"], 2)] for r in search["ranking"][:15]], {1, 2}))
            body.append(note("layers ranked by the SQNR each loses in the failed int8 file against its float twin, worst first; each set is "
                             "judged like a range method, on calibration samples apart from the held-out ones"))
        out.append(section(f"float-layers-{p.get('name')}", f"Layers kept in float: {p.get('name')}", *body))
    return out


def _input_rounding(plan: list[dict]) -> list[str]:
    """Per int8 file whose export measured it: the fp32 twin fed the int8 file's rounded inputs, under the int8 gate."""
    return [parity_section([p["input_rounding"]], f"input-rounding-{p.get('name')}", f"Input rounding alone: {p.get('name')}")
            for p in plan if isinstance(p.get("input_rounding"), dict) and p["input_rounding"].get("outputs")]


def _verify(data: dict, context: dict) -> list[str]:
    """A VerifyResult's page: the model, its parity step, and with --per-layer every layer's SQNR and the input rounding."""
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


_MS = ("load_ms", "first_ms", "p50_ms", "p90_ms", "p99_ms")


def _row_label(row: dict) -> str:
    return f"{row.get('label') or name_of(row['model'])} \u00b7 {row.get('threads') or 'default'} thr \u00b7 batch {row.get('batch', 1)}"


def _bench(data: dict, context: dict) -> list[str]:
    """A BenchReport's page: the machine, latency per model, threads and batch, sizes and memory, accuracy."""
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
                                "mean ± std ms", "items/s", "vs torch", "parity vs original"],
                               [[r.get("label") or name_of(r["model"]), r["precision"], r["backend"] + (f" +{r['delegate']}" if r.get("delegate") else ""),
                                 r.get("threads") or "default", r.get("batch"), *[f"{r[k]:.2f}" for k in _MS], f"{r['mean_ms']:.2f} ± {r['std_ms']:.2f}",
                                 f"{r['throughput_per_s']:.1f}",
                                 "-" if r.get("speedup_vs_torch") is None else f"{r['speedup_vs_torch']:.2f}x", r.get("parity") or "-"]
                                for r in rows], set(range(3, 13)), 13),
                         note(f"inference call only, after warm-up; {data.get('counting_rule', '')}")))
    files = list({(r.get("label") or name_of(r["model"])): r for r in rows}.values())
    parts.append(section("sizes", "Size and memory",
                         bar_chart([Bar(r.get("label") or name_of(r["model"]), r.get("file_mb"), f"bar {_precision_class(r)}") for r in files],
                                   "file size per model", "MB", "file size, MB; colour: precision"),
                         bar_chart([Bar(_row_label(r), r.get("peak_rss_mb"), f"bar {_precision_class(r)}", note=f"+{r.get('model_rss_mb', 0):.0f} MB model")
                                    for r in rows], "peak resident memory per run", "MB", "peak resident memory, MB (+ what loading the model added)"),
                         table(["model", "MB", "params", "MMACs", "input", "output"],
                               [[r.get("label") or name_of(r["model"]), r.get("file_mb"), r.get("params"),
                                 None if r.get("macs") is None else round(r["macs"] / 1e6), r.get("input_dtype"), r.get("output_dtype")] for r in files],
                               {1, 2, 3})))
    measured = [r for r in rows if r.get("accuracy")]
    if measured:
        metric = measured[0]["accuracy"]["metric"]
        per_model = list({(r.get("label") or name_of(r["model"])): r for r in measured}.values())
        parts.append(section("accuracy", "Accuracy",
                             interval_chart([IntervalRow(r.get("label") or name_of(r["model"]), r["accuracy"]["value"], r["accuracy"]["low"],
                                                         r["accuracy"]["high"]) for r in per_model], f"{metric} with 95% intervals", low=0.0, high=1.0),
                             table(["model", f"{metric} (95% CI)", "clips", "drop pts", "p worse"],
                                   [[r.get("label") or name_of(r["model"]),
                                     f"{pct(r['accuracy']['value'])} ({pct(r['accuracy']['low'])}-{pct(r['accuracy']['high'])})",
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
    title = f"edgeaudio {kind}" + (f": {name_of(str(subject))}" if subject else "")
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
