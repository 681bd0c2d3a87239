"""The one error an audio file can cause."""

from __future__ import annotations

import os

from edgeaudio.errors import InputError


class AudioFormatError(InputError, ValueError):
    """An audio file cannot be used: `path` names it, `problem` says what is wrong in one line.

    One of edgeaudio's user errors (exit status 2 at the CLI), and a ValueError for library callers.
    """

    def __init__(self, path: str | os.PathLike, problem: str):
        super().__init__(problem, path)
