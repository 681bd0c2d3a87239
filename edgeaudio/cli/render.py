"""Plain-text tables for results. Rendering only: no computation, no I/O beyond returning strings."""

from __future__ import annotations

import math
from typing import Iterable, Sequence


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], right: Sequence[bool] | None = None) -> str:
    """An aligned text table; `right[i]` right-aligns column i (numbers)."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    right = right or [False] * len(headers)

    def line(row: list[str]) -> str:
        return "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isinf(value):
            return "inf"
        return f"{value:.3g}" if abs(value) < 1e-2 or abs(value) >= 1e5 else f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


def giga(n: int) -> str:
    return f"{n / 1e9:.3f} G"


def thousands(n: int) -> str:
    return f"{n:,}"


_BOUND_LABELS = {"max_rel": ("rel", "<="), "max_abs": ("abs", "<="), "cosine": ("cos", ">=")}


def bound_text(bounds) -> str:
    """A check's bounds on one output, compactly: "rel<=4.8e-05", "cos>=0.99 top1>=98%"."""
    parts = [f"{label}{op}{getattr(bounds, key):.2g}" for key, (label, op) in _BOUND_LABELS.items() if getattr(bounds, key) is not None]
    if bounds.top1 is not None:
        parts.append(f"top1>={bounds.top1:.0%}")
    return " ".join(parts) or "-"


def agreement_text(m) -> str:
    """Top-1 agreement as the gate judges it, with its count, near ties and 95% interval:
    "96.9% (62/64, 2 near ties; 89-99%)"."""
    ties = f", {m.near_ties} near tie{'s' if m.near_ties > 1 else ''}" if m.near_ties else ""
    return f"{m.agreement:.1%} ({m.samples - m.hard_flips}/{m.samples}{ties}; {m.agreement_low:.0%}-{m.agreement_high:.0%})"


def render_chain(chain) -> str:
    """Every step of a parity chain, one row per output: errors, agreement, the reference's own noise floor
    beside the bound it set, and the verdict."""
    rows = []
    for step in chain:
        for m in step.outputs:
            failed = any(f.startswith(f"{m.name}:") for f in step.failures)
            floor = step.noise_floor.get(m.name)
            rows.append((
                step.step, m.name, f"{m.max_abs:.3g}", f"{m.max_rel:.3g}", f"{m.cosine:.6f}",
                "inf" if m.snr_db == float("inf") else f"{m.snr_db:.1f}", agreement_text(m),
                "-" if floor is None else f"{floor:.2g}", bound_text(step.bounds.get(m.name)) if m.name in step.bounds else "-",
                "FAIL" if failed else "pass",
            ))
    headers = ["step", "output", "max abs", "max rel", "cosine", "SNR dB", "top-1 agreement (n; 95% CI)", "noise floor", "bound", "gate"]
    text = table(headers, rows, [False, False, True, True, True, True, True, True, False, False])
    references = list(dict.fromkeys(step.reference for step in chain))
    notes = [f"reference: {', '.join(references)}"]
    by_basis: dict[str, list[str]] = {}
    for step in chain:
        if step.basis:
            by_basis.setdefault(step.basis, []).append(step.step)
    notes += [f"bounds of {', '.join(steps)}: {basis}" for basis, steps in by_basis.items()]
    return text + "\n" + "\n".join(notes)
