"""Silencing native libraries that print to the process's stdout/stderr file descriptors directly.

TensorFlow, onnx2tf and the LiteRT interpreter write banners from C++ (fd 2) that Python's redirects do not
catch; edgeaudio's own output stays the only thing a user reads.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator


@contextlib.contextmanager
def captured_fds(log_path: str | os.PathLike | None = None) -> Iterator[None]:
    """Send fd 1 and 2 to `log_path` (appended) or to /dev/null for the duration of the block."""
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
