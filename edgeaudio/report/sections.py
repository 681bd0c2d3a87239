"""The sections several reports share: the parity chain, the per-layer SQNR of an int8 model, accuracy."""

from __future__ import annotations

import math
from html import escape

from edgeaudio.report.markup import facts, items, name_of, note, num, pct, section, table, tail
from edgeaudio.report.svg import Bar, ErrorRow, IntervalRow, bar_chart, error_chart, heatmap, interval_chart


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
    parts = [f"{label.split(' - ')[-1] if key == 'cosine' else label} {'>=' if key == 'cosine' else '<='} {num(bounds[key])}"
             for key, label in _METRICS.items() if bounds.get(key) is not None]
    if bounds.get("top1") is not None:
        parts.append(f"top-1 >= {pct(bounds['top1'], 0)}")
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
                         f"{pct(m['agreement'])} ({pct(m['agreement_low'], 0)}-{pct(m['agreement_high'], 0)}, n={m['samples']})",
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
                      "SQNR dB in execution order (higher is better); red: the 5 worst, orange: lost 3 dB or more in this op", log=False)
    rows = [[rank + 1, layers[i]["op_index"], layers[i]["op"], f"{sqnr(layers[i]):.1f}",
             "-" if layers[i].get("drop_db") is None else f"{layers[i]['drop_db']:+.1f}", "x".join(map(str, layers[i].get("shape", []))),
             layers[i].get("module") or "-", tail(layers[i]["tensor"])] for rank, i in enumerate(ranked[:worst])]
    return section("per-layer", "Per-layer SQNR", chart,
                   note(f"the worst {min(worst, len(layers))} of {len(layers)} layers (drop = dB lost in this op):"),
                   table(["rank", "op#", "op", "SQNR dB", "drop", "shape", "PyTorch module", "TFLite tensor"], rows, {0, 1, 3, 4}))


def accuracy_section(report: dict, confusion: bool = False, ident: str = "accuracy") -> str:
    """An EvalReport's dict: the headline metric with intervals per model, the drops with their paired tests, the
    table, per-class figures, and (when asked for) each model's confusion matrix."""
    headline = report["headline"]
    single = report["task"] == "single-label"
    models = report["models"]
    parts = [facts([("data", report["data"]), ("task", report["task"]), ("clips", report["clips"]), ("scored", report["scored"]),
                    ("silent", report.get("silent")), ("classes", len(report["labels"])),
                    ("intervals", f"{pct(report.get('confidence', 0.95), 0)} from {report.get('bootstrap')} bootstrap resamples, paired across models")])]
    parts.append(interval_chart([IntervalRow(f"{name_of(m['model'])} ({m['format']} {m['precision']})", m["metrics"][headline]["value"],
                                             m["metrics"][headline]["low"], m["metrics"][headline]["high"], m.get("passed", True))
                                 for m in models], f"{headline} with 95% intervals", low=0.0, high=1.0))
    compared = [m for m in models if m.get("versus_reference")]
    if compared:
        max_drop = report.get("max_drop_points")
        rows = [IntervalRow(name_of(m["model"]), 100 * m["versus_reference"]["drop"], 100 * m["versus_reference"]["low"],
                            100 * m["versus_reference"]["high"], m.get("passed", True)) for m in compared]
        parts.append(interval_chart(rows, "drop against the reference, points", max_drop, percent=False,
                                    bound_label=f"--max-drop {num(max_drop)} points"))
    rows = []
    for m in models:
        v = m.get("versus_reference")
        metric = m["metrics"][headline]
        drop = "reference" if v is None else f"{100 * v['drop']:+.2f} ({100 * v['low']:+.1f} to {100 * v['high']:+.1f})"
        row = [name_of(m["model"]), m["format"], m["precision"], f"{pct(metric['value'])} ({pct(metric['low'])}-{pct(metric['high'])})"]
        if single:
            row += [pct(m["metrics"].get("top5", {}).get("value")), pct(m["metrics"].get("balanced", {}).get("value")),
                    drop, "-" if v is None else f"{v.get('lost')}/{v.get('gained')}"]
        else:
            row += [drop]
        row += ["-" if v is None else num(v["p_worse"]), m.get("gate") or "-"]
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
        parts.append(items([f"{name_of(u['file'])}: {u['error']}" for u in report["unreadable"]]))
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
    rows = [[labels[i]] + [pct(f[i], 0) for f in figures] for i in present]
    text = f"per-class {kind}" + (f" ({limit} classes whose figure differs most between models)" if len(present) < len(all_present) else "")
    return note(text) + table(["class"] + [name_of(m["model"]) for m in models], rows, set(range(1, len(models) + 1)))


def _confusion(model: dict, labels: list[str]) -> str:
    matrix = model["confusion"]
    used = [i for i in range(len(labels)) if sum(matrix[i]) or sum(row[i] for row in matrix)]
    sub = [[matrix[r][c] for c in used] for r in used]
    title = f"confusion matrix: {name_of(model['model'])} ({model['format']} {model['precision']})"
    return f"<h3>{escape(title)}</h3>" + heatmap(sub, [labels[i] for i in used], title)
