"""Small pieces of HTML for the reports, every text escaped: tables, fact lists, sections, notes, numbers."""

from __future__ import annotations

import math
from html import escape
from pathlib import Path


def num(value, digits: int = 3) -> str:
    """A number as a table shows it: `digits` significant for the very small or large, fixed otherwise; "-" for none."""
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


def pct(value, digits: int = 1) -> str:
    """A proportion as a percentage."""
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.{digits}f}%"


def table(headers: list[str], rows: list[list], numeric: set[int] = frozenset(), verdict: int | None = None) -> str:
    """A table of escaped cells; columns in `numeric` right-aligned; column `verdict` coloured pass/FAIL."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            text = value if isinstance(value, str) else num(value)
            cls = "num" if i in numeric else ""
            if i == verdict:
                cls = "fail" if text.upper().startswith("FAIL") else "pass"
            cells.append(f'<td class="{cls}">{escape(text)}</td>' if cls else f"<td>{escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def facts(pairs: list[tuple[str, object]]) -> str:
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v if isinstance(v, str) else num(v))}</dd>" for k, v in pairs if v not in (None, ""))
    return f'<dl class="facts">{items}</dl>'


def section(ident: str, title: str, *parts: str) -> str:
    return f'<section id="{escape(ident)}"><h2>{escape(title)}</h2>{"".join(parts)}</section>'


def note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def items(lines: list[str], cls: str = "") -> str:
    return f'<ul class="{cls}">' + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ul>"


def name_of(path: str | None) -> str:
    return Path(path).name if path else "-"


def tail(text: str, most: int = 48) -> str:
    return text if len(text) <= most else "\u2026" + text[-(most - 1):]
