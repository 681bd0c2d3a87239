"""Writing outputs so that nothing half-written is ever left at the path a user asked for.

Every output goes to a temporary name in the same folder and is renamed into place only when complete; an
exception or Ctrl-C on the way removes the temporary file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

from edgeaudio.errors import OutputPathError


def check_output_file(path: str | os.PathLike) -> Path:
    """Check that `path` can be written as a file; return it as a Path. Raises OutputPathError otherwise."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError("is a directory; give a file name for the output", path)
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise OutputPathError(f"cannot write here: {parent} is not a folder", path)
    if parent.exists() and not os.access(parent, os.W_OK):
        raise OutputPathError(f"cannot write here: folder {parent} is not writable", path)
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it to `path`, on any failure delete it.

    The parent folder is created if it is missing.
    """
    path = check_output_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; an output should get the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_json(path: str | os.PathLike, data: object) -> Path:
    """Write `data` as indented JSON, atomically; NaN and infinities (which JSON has no words for) as null.
    Returns the path written."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_finite(data), indent=2, sort_keys=False, allow_nan=False) + "\n")
    return Path(path)


def _finite(value: object) -> object:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
