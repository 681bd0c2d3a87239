"""What a model file is by its name, and refusing one with one line before a runtime sees it: the checks every
flatbuffer format shares."""

from __future__ import annotations

import os
from pathlib import Path

from edgeaudio.errors import InputError
from edgeaudio.runtime.formats import EXPORTED_SUFFIXES  # run by the runtime side (the format registry's)
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".pyth", ".h5", ".hdf5")  # loaded by edgeaudio.checkpoint, in PyTorch
MODEL_SUFFIXES = EXPORTED_SUFFIXES + CHECKPOINT_SUFFIXES


def flatbuffer_identifier(path: str | os.PathLike, suffix: str, header: str) -> tuple[Path, bytes]:
    """(path, its 4-byte flatbuffer file identifier, bytes 4..8); InputError naming the file when it is missing,
    a folder, or too short to hold a `header` header. TFLite and ExecuTorch files are both flatbuffers."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", path)
    if path.is_dir():
        raise InputError(f"is a directory; give a {suffix} file", path)
    with open(path, "rb") as f:
        head = f.read(8)
    if len(head) < 8:
        raise InputError(f"is empty or truncated (no {header} header)", path)
    return path, head[4:8]
