"""Self-contained HTML reports of export, verify, bench and eval results (inline CSS and SVG, no script, nothing
loaded from elsewhere), rendered from the results' to_dict(). stdlib only: a device writes them too."""

from edgeaudio.report.html import KINDS, render_report, write_report

__all__ = ["KINDS", "render_report", "write_report"]
