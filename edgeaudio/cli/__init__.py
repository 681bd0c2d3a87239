"""The `edgeaudio` command line: thin commands that parse options, call the pipeline, render the result.

Errors a user can cause print one line and exit 2 (bad input) or 1 (parity failed); `--debug` shows the
traceback. torch and the other heavy libraries are imported inside the commands that need them.
"""

from __future__ import annotations

import sys
import time
import traceback

import click

from edgeaudio import __version__
from edgeaudio.errors import EdgeAudioError


class Progress:
    """Prints stage messages with elapsed time to stderr, so stdout stays the result."""

    def __init__(self, quiet: bool = False):
        self.start = time.perf_counter()
        self.quiet = quiet

    def __call__(self, message: str) -> None:
        if not self.quiet:
            click.echo(f"[{time.perf_counter() - self.start:6.1f}s] {message}", err=True)


def progress_bar(count: int, label: str = "clips"):
    """A bar over `count` items on stderr when it is a terminal; nothing at all when it is piped or redirected."""
    import contextlib

    if count > 1 and sys.stderr.isatty():
        return click.progressbar(length=count, label=label, file=sys.stderr, show_pos=True, show_eta=True)
    return contextlib.nullcontext(None)


def save_json(path: str | None, data: dict) -> None:
    """--json: write `data` to `path` (atomically, NaN as null) when one was given, and say so on stderr."""
    if path:
        from edgeaudio.atomic import write_json

        write_json(path, data)
        click.echo(f"wrote {path}", err=True)


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgeaudio")
@click.option("--debug", is_flag=True, help="Show the full traceback when something fails.")
def cli(debug: bool) -> None:
    """edgeaudio: trained PyTorch audio checkpoints to fast, verified edge models."""


def _terminated(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM (a CI timeout, systemd, kill) unwinds like Ctrl-C: outputs are closed whole


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the CLI and map errors to one line and an exit status."""
    import signal
    import threading

    args = sys.argv[1:] if argv is None else argv
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if on_main_thread else None
    try:
        return _run(args)
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _run(args: list[str]) -> int:
    debug = "--debug" in args
    try:
        code = cli.main(args=args, prog_name="edgeaudio", standalone_mode=False)
        return code if isinstance(code, int) else 0  # click returns an Exit's code instead of raising it
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"edgeaudio: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except EdgeAudioError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"edgeaudio: error: {exc}", err=True)
        return exc.exit_code
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("edgeaudio: interrupted; nothing was left half-written (streamed outputs keep what finished)", err=True)
        return 130
    except Exception as exc:  # a bug: say so in one line unless asked for the traceback
        if debug:
            traceback.print_exc()
        click.echo(f"edgeaudio: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
        return 3


from edgeaudio.cli import model_commands  # noqa: E402,F401  (registers the commands on `cli`)
from edgeaudio.cli import export_commands  # noqa: E402,F401
from edgeaudio.cli import runtime_commands  # noqa: E402,F401
from edgeaudio.cli import eval_commands  # noqa: E402,F401
from edgeaudio.cli import listen_commands  # noqa: E402,F401
