"""Silencing native libraries that print to the process's stdout/stderr file descriptors directly.

TensorFlow, onnx2tf and the LiteRT interpreter write banners from C++ (fd 2) that Python's redirects do not
catch; edgeaudio's own output stays the only thing a user reads.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Iterator

_lock = threading.Lock()
_capturing = [0]  # blocks in progress, any thread's: a message printed meanwhile would land in the capture


def capturing() -> bool:
    """Whether fd 1 and 2 are sent elsewhere now (by any thread's captured_fds)."""
    return _capturing[0] > 0


@contextlib.contextmanager
def captured_fds(log_path: str | os.PathLike | None = None) -> Iterator[None]:
    """Send fd 1 and 2 to `log_path` (appended) or to /dev/null for the duration of the block."""
    with _lock:
        _capturing[0] += 1
    try:
        with _captured(log_path):
            yield
    finally:
        with _lock:
            _capturing[0] -= 1


@contextlib.contextmanager
def _captured(log_path: str | os.PathLike | None) -> Iterator[None]:
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    target = open(log_path, "ab") if log_path is not None else open(os.devnull, "wb")
    try:
        os.dup2(target.fileno(), 1)
        os.dup2(target.fileno(), 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        target.close()
