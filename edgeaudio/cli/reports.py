"""--report: the HTML page of a command's result (edgeaudio.report), written beside its tables and JSON."""

from __future__ import annotations

import click

REPORT_HELP = "Write a self-contained HTML report (charts and tables, nothing loaded from elsewhere) to this file."


def report_option(help_text: str = REPORT_HELP):
    return click.option("--report", "report_out", default=None, type=click.Path(dir_okay=False), help=help_text)


def save_report(path, kind: str, data: dict, confusion: bool = False) -> None:
    """Write the `kind` report of result dict `data` to `path` when one was given, with the command and the options
    the user set, and say where on stderr."""
    if not path:
        return
    from edgeaudio.report import write_report

    ctx = click.get_current_context(silent=True)
    given = {}
    if ctx is not None:
        given = {k: v for k, v in ctx.params.items() if v not in (None, False, (), "") and k not in ("report_out", "json_out")}
    command = ctx.command_path if ctx is not None else f"edgeaudio {kind}"
    shown = " ".join([command] + [f"{k}={v if not isinstance(v, tuple) else ','.join(map(str, v))}" for k, v in given.items()])
    write_report(path, kind, data, {"command": shown, "options": given, "confusion": confusion})
    click.echo(f"wrote {path}", err=True)
