"""Small inline SVG charts for the HTML reports: stdlib only, so a report is written on a device too.

Hand-written because no well-kept library renders dependency-free inline SVG: matplotlib and plotting libraries
built on it or on JavaScript are heavy optional installs a Raspberry Pi's base install does not have.

Every chart is a function of plain rows (label, numbers, pass/fail) returning one <svg> element as a string.
Text is escaped; colours come from the page's stylesheet through class names (no inline styles, so the page's
Content-Security-Policy can forbid them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Sequence

WIDTH = 980
ROW = 18  # pixels per row of a row chart
CHAR = 6.6  # approximate width of one 11 px character, for the label column


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if math.isinf(value):
        return "inf"
    size = abs(value)
    if size < 1e-2 or size >= 1e6:
        return f"{value:.2g}"
    return f"{value:.0f}" if size >= 100 else f"{value:.3g}"


def _text(x: float, y: float, text: str, cls: str = "", anchor: str = "start") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{klass}>{escape(text)}</text>'


def _clip(label: str, width: float) -> str:
    """`label` cut to fit `width` pixels, keeping its end (module paths differ at their end)."""
    most = max(4, int(width / CHAR))
    return label if len(label) <= most else "\u2026" + label[-(most - 1):]


def _label_width(labels: Sequence[str], most: float = 400) -> float:
    return min(most, max([60.0] + [len(s) * CHAR + 8 for s in labels]))


def _svg(height: float, body: list[str], title: str, cls: str, width: float = WIDTH) -> str:
    return (f'<svg class="chart {cls}" role="img" aria-label="{escape(title)}" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
            + "".join(body) + "</svg>")


class _LogScale:
    """x position of a positive value on a log axis spanning the values given (zero drawn at the left end)."""

    def __init__(self, values: Sequence[float], left: float, right: float):
        positive = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
        low, high = (min(positive), max(positive)) if positive else (1e-7, 1.0)
        self.lo = math.floor(math.log10(low)) if low < high else math.floor(math.log10(low)) - 1
        self.hi = math.ceil(math.log10(high)) if high > low else self.lo + 2
        self.hi = max(self.hi, self.lo + 1)
        self.left, self.right = left, right

    def __call__(self, value: float) -> float:
        if value is None or value <= 0:
            return self.left
        if not math.isfinite(value):
            return self.right
        share = (math.log10(value) - self.lo) / (self.hi - self.lo)
        return self.left + min(max(share, 0.0), 1.0) * (self.right - self.left)

    def ticks(self) -> list[tuple[float, str]]:
        step = max(1, math.ceil((self.hi - self.lo) / 6))
        return [(self(10.0**e), _fmt(10.0**e) if -2 <= e <= 5 else f"1e{e}") for e in range(self.lo, self.hi + 1, step)]


class _LinearScale:
    def __init__(self, low: float, high: float, left: float, right: float):
        self.low, self.high = low, (high if high > low else low + 1)
        self.left, self.right = left, right

    def __call__(self, value: float) -> float:
        share = (value - self.low) / (self.high - self.low)
        return self.left + min(max(share, 0.0), 1.0) * (self.right - self.left)

    def ticks(self, count: int = 5, percent: bool = False) -> list[tuple[float, str]]:
        """Ticks at round values (1, 2 or 5 x a power of ten apart), about `count` of them."""
        rough = (self.high - self.low) / count
        power = 10.0 ** math.floor(math.log10(rough))
        step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
        first = math.ceil(self.low / step - 1e-9)
        values = [k * step for k in range(first, int(math.floor(self.high / step + 1e-9)) + 1)]
        return [(self(v), f"{100 * v:.0f}%" if percent else _fmt(round(v, 12))) for v in values]


def _axis(ticks: list[tuple[float, str]], top: float, bottom: float) -> list[str]:
    body = []
    for x, label in ticks:
        body.append(f'<line class="grid" x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{bottom:.1f}"/>')
        body.append(_text(x, bottom + 12, label, "tick", "middle"))
    return body


@dataclass(frozen=True)
class ErrorRow:
    """One measured error against the bound it had to meet and, where known, the reference's own noise floor."""

    label: str
    value: float
    bound: float | None
    floor: float | None = None
    passed: bool = True


def error_chart(rows: Sequence[ErrorRow], title: str) -> str:
    """Errors on a log axis, one row each: a dot (green within its bound, red beyond), the bound as a dark bar,
    the noise floor as a grey diamond."""
    label_w = _label_width([r.label for r in rows])
    left, right = label_w + 8, WIDTH - 70
    scale = _LogScale([v for r in rows for v in (r.value, r.bound, r.floor)], left, right)
    top = 22
    height = top + ROW * len(rows) + 30
    body = [_text(left, 12, "error (log scale): \u25cf measured   \u2502 bound   \u25c6 noise floor", "legend")]
    body += _axis(scale.ticks(), top - 4, top + ROW * len(rows))
    for i, r in enumerate(rows):
        y = top + ROW * i + ROW / 2
        body.append(_text(label_w, y + 4, _clip(r.label, label_w - 4), "label", "end"))
        body.append(f'<line class="track" x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}"/>')
        if r.floor is not None and r.floor > 0:
            fx = scale(r.floor)
            body.append(f'<path class="floor" d="M{fx:.1f} {y - 7:.1f} l6 7 l-6 7 l-6 -7 z"><title>noise floor {_fmt(r.floor)}</title></path>')
        if r.bound is not None:
            bx = scale(r.bound)
            body.append(f'<rect class="bound" x="{bx - 1.5:.1f}" y="{y - 7:.1f}" width="3" height="14"><title>bound {_fmt(r.bound)}</title></rect>')
        vx = scale(r.value)
        body.append(f'<circle class="{"pass" if r.passed else "fail"}" cx="{vx:.1f}" cy="{y:.1f}" r="5">'
                    f'<title>{escape(r.label)}: {_fmt(r.value)}</title></circle>')
        body.append(_text(right + 6, y + 4, _fmt(r.value), "value"))
    return _svg(height, body, title, "errors")


@dataclass(frozen=True)
class IntervalRow:
    """A proportion with its interval (agreement, accuracy, a drop in points)."""

    label: str
    value: float
    low: float | None
    high: float | None
    passed: bool = True


def interval_chart(rows: Sequence[IntervalRow], title: str, bound: float | None = None, low: float | None = None,
                   high: float | None = None, percent: bool = True, bound_label: str = "bound") -> str:
    """Values with their intervals on a linear axis (a forest plot), and a dashed line at `bound`."""
    label_w = _label_width([r.label for r in rows])
    left, right = label_w + 8, WIDTH - 90
    values = [v for r in rows for v in (r.value, r.low, r.high) if v is not None and math.isfinite(v)]
    if bound is not None:
        values.append(bound)
    lo = min(values) if low is None else low
    hi = max(values) if high is None else high
    if not percent:  # room either side for points
        pad = 0.05 * (hi - lo or 1)
        lo, hi = lo - pad, hi + pad
    scale = _LinearScale(lo, hi, left, right)
    top = 22
    bottom = top + ROW * len(rows)
    legend = f"{title}: \u25cf value, bar: 95% interval" + (f"   dashed: {bound_label}" if bound is not None else "")
    body = [_text(left, 12, legend, "legend")]
    body += _axis(scale.ticks(percent=percent), top - 4, bottom)
    if bound is not None:
        bx = scale(bound)
        body.append(f'<line class="limit" x1="{bx:.1f}" y1="{top - 4}" x2="{bx:.1f}" y2="{bottom:.1f}"><title>{escape(bound_label)} '
                    f'{_fmt(bound)}</title></line>')
    for i, r in enumerate(rows):
        y = top + ROW * i + ROW / 2
        cls = "pass" if r.passed else "fail"
        body.append(_text(label_w, y + 4, _clip(r.label, label_w - 4), "label", "end"))
        if r.low is not None and r.high is not None and math.isfinite(r.low) and math.isfinite(r.high):
            body.append(f'<line class="whisker {cls}" x1="{scale(r.low):.1f}" y1="{y:.1f}" x2="{scale(r.high):.1f}" y2="{y:.1f}"/>')
        shown = f"{100 * r.value:.1f}%" if percent else _fmt(r.value)
        body.append(f'<circle class="{cls}" cx="{scale(r.value):.1f}" cy="{y:.1f}" r="4.5"><title>{escape(r.label)}: {shown}</title></circle>')
        body.append(_text(right + 6, y + 4, shown, "value"))
    return _svg(bottom + 30, body, title, "intervals")


@dataclass(frozen=True)
class Bar:
    """One horizontal bar; `marks` are further values drawn as ticks on it (p90, p99), `cls` its colour class."""

    label: str
    value: float | None
    cls: str = "bar"
    marks: tuple[float, ...] = ()
    note: str = ""


SPREAD = 30  # values further apart than this get a log axis, so that the small ones stay visible


def bar_chart(bars: Sequence[Bar], title: str, unit: str, legend: str = "", log: bool | None = None) -> str:
    """Horizontal bars, one per row, with the value (and `note`) printed at the end; from zero on a linear axis, or
    from the axis' start on a log one (`log`; by default when the positive values span more than SPREAD times)."""
    label_w = _label_width([b.label for b in bars])
    left, right = label_w + 8, WIDTH - 210
    finite = [v for b in bars for v in (b.value, *b.marks) if v is not None and math.isfinite(v)]
    positive = [v for v in finite if v > 0]
    if log is None:
        log = bool(positive) and len(positive) == len(finite) and max(positive) > SPREAD * min(positive)
    scale = _LogScale(positive, left, right) if log else _LinearScale(min([0.0] + finite), max([1e-12] + finite), left, right)
    top = 22
    bottom = top + ROW * len(bars)
    body = [_text(left, 12, (legend or unit) + (" (log scale)" if log else ""), "legend")]
    body += _axis(scale.ticks(), top - 4, bottom)
    zero = left if log else scale(0.0)
    for i, b in enumerate(bars):
        y = top + ROW * i
        body.append(_text(label_w, y + ROW / 2 + 4, _clip(b.label, label_w - 4), "label", "end"))
        if b.value is None:
            body.append(_text(left + 4, y + ROW / 2 + 4, "not measured", "value"))
            continue
        end = right if math.isinf(b.value) else scale(b.value)
        x, w = min(zero, end), abs(end - zero)
        shown = ("exact" if math.isinf(b.value) else f"{_fmt(b.value)} {unit}") + (f"  {b.note}" if b.note else "")
        body.append(f'<rect class="{escape(b.cls)}" x="{x:.1f}" y="{y + 3:.1f}" width="{max(w, 1):.1f}" height="{ROW - 6}">'
                    f'<title>{escape(b.label)}: {escape(shown)}</title></rect>')
        for mark in b.marks:
            mx = scale(mark)
            body.append(f'<line class="mark" x1="{mx:.1f}" y1="{y + 1:.1f}" x2="{mx:.1f}" y2="{y + ROW - 1:.1f}"/>')
        body.append(_text(right + 6, y + ROW / 2 + 4, shown, "value"))
    return _svg(bottom + 30, body, title, "bars")


def heatmap(matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str) -> str:
    """A confusion matrix: rows the true class, columns the predicted one, each cell shaded by its share of the row
    and showing its count."""
    n = len(labels)
    label_w = _label_width(labels, 200)
    cell = max(6.0, min(36.0, (WIDTH - label_w - 20) / max(n, 1)))
    top = label_w + 24
    left = label_w + 8
    width = max(WIDTH, left + cell * n + 10)
    body = [_text(left, 12, "rows: true class, columns: predicted; shade: share of the row", "legend")]
    for j, name in enumerate(labels):
        x = left + cell * j + cell / 2 + 4
        body.append(f'<text class="label" transform="translate({x:.1f},{top - 6:.1f}) rotate(-90)">{escape(_clip(name, label_w))}</text>')
    for i, row in enumerate(matrix):
        total = max(sum(row), 1)
        y = top + cell * i
        body.append(_text(label_w, y + cell / 2 + 4, _clip(labels[i], label_w - 4), "label", "end"))
        for j, count in enumerate(row):
            share = count / total
            level = 0 if count == 0 else 1 + min(int(share * 5), 4)
            klass = f"heat{level}" + (" diag" if i == j else "")
            body.append(f'<rect class="{klass}" x="{left + cell * j:.1f}" y="{y:.1f}" width="{cell:.1f}" height="{cell:.1f}">'
                        f'<title>true {escape(labels[i])}, predicted {escape(labels[j])}: {count}</title></rect>')
            if count and cell >= 16:
                body.append(_text(left + cell * j + cell / 2, y + cell / 2 + 4, str(count), "count" + (" light" if level >= 4 else ""), "middle"))
    return _svg(top + cell * n + 10, body, title, "heatmap", width)
