"""The small family of errors a user can cause. The CLI maps each to an exit status; the library never exits.

Exit statuses follow the contract CI jobs rely on: 0 success, 1 a parity check failed, 2 bad input.
"""

from __future__ import annotations

import os


class EdgeAudioError(Exception):
    """Base of every error edgeaudio reports to a user as one line."""

    exit_code = 2


class InputError(EdgeAudioError):
    """Something the user gave (a file, an option, a config) is wrong.

    `path` names the file when there is one; `problem` says what is wrong and, where it helps, what to do.
    """

    def __init__(self, problem: str, path: str | os.PathLike | None = None):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path is not None else problem)


class CheckpointError(InputError):
    """A checkpoint cannot be read, is not one, or does not fit the architecture it claims."""


class ConfigError(InputError):
    """An architecture or export configuration is invalid."""


class OutputPathError(InputError):
    """An output path cannot be written (it is a directory, its folder is missing or read-only)."""


class ParityError(EdgeAudioError):
    """A converted model disagrees with its reference beyond the stated bounds."""

    exit_code = 1


class AccuracyError(EdgeAudioError):
    """A model loses more accuracy against its reference than allowed, and the loss is real by a paired test."""

    exit_code = 1
