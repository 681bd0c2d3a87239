"""--report: the HTML page of a command's result (edgeaudio.report), written beside its tables and JSON."""

from __future__ import annotations

import shlex

import click

REPORT_HELP = "Write a self-contained HTML report (charts and tables, nothing loaded from elsewhere) to this file."


def report_option(help_text: str = REPORT_HELP):
    return click.option("--report", "report_out", default=None, type=click.Path(dir_okay=False), help=help_text)


def command_line(ctx: click.Context) -> str:
    """The command as the user could type it again: its arguments and every option not left at its default."""
    words = ctx.command_path.split()
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        values = value if isinstance(value, tuple) else (value,)
        if isinstance(param, click.Argument):
            words += [str(v) for v in values if v is not None]
        elif value is not None and value is not False and value != () and value != param.default:
            flag = max(param.opts, key=len)
            words += [flag] if getattr(param, "is_flag", False) else [flag, ",".join(map(str, values))]
    return " ".join(shlex.quote(w) for w in words)


def save_report(path, kind: str, data: dict, confusion: bool = False) -> None:
    """Write the `kind` report of result dict `data` to `path` when one was given, with the command line and its
    options, and say where on stderr."""
    if not path:
        return
    from edgeaudio.report import write_report

    ctx = click.get_current_context(silent=True)
    context = {"confusion": confusion}
    if ctx is not None:
        context.update(command=command_line(ctx), options=dict(ctx.params))
    write_report(path, kind, data, context)
    click.echo(f"wrote {path}", err=True)
