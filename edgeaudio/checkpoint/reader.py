"""Reading a checkpoint file without ever executing code from it.

torch.load with weights_only=True unpickles only tensors and plain containers; anything that would import and
call a global (the way a malicious pickle runs code) is refused before it happens. Header bytes are checked
first so that a file of another kind gets a message that says what it is.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

from edgeaudio.errors import CheckpointError

ZIP_MAGIC = b"PK\x03\x04"
LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0a"  # torch.save's pre-1.6 format opens with a pickled magic number


def _describe_foreign(head: bytes) -> str:
    if head[4:8] == b"TFL3":
        return "is a TFLite model, not a PyTorch checkpoint"
    if head[:4] == b"\x89HDF":
        return "is an HDF5 file (a Keras .h5?), not a PyTorch checkpoint"
    if head[:6] == b"\x93NUMPY":
        return "is a NumPy .npy array, not a PyTorch checkpoint"
    if head[:4] == b"RIFF":
        return "is a RIFF file (audio?), not a PyTorch checkpoint"
    return f"is not a PyTorch checkpoint (it starts with bytes {head[:8].hex(' ')})"


def read_checkpoint_file(path: str | os.PathLike) -> Any:
    """Return the object stored by torch.save in `path`, loaded with tensors only (weights_only=True).

    Raises CheckpointError naming the file for: a missing path, a directory, an empty, truncated or foreign
    file, and a pickle that would run code.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError("no such file", path)
    if path.is_dir():
        raise CheckpointError("is a directory; give a checkpoint file", path)
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise CheckpointError(f"cannot be read: {exc.strerror}", path) from None
    if not head:
        raise CheckpointError("is empty (0 bytes)", path)
    if head.startswith(b"\x80") and not head.startswith(LEGACY_TORCH_MAGIC):
        raise CheckpointError(
            "is a plain Python pickle, not a torch.save file; edgeaudio does not unpickle arbitrary files", path
        )
    if not (head.startswith(ZIP_MAGIC) or head.startswith(LEGACY_TORCH_MAGIC)):
        raise CheckpointError(_describe_foreign(head), path)

    import torch  # only the export side reads checkpoints

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found:
            raise CheckpointError(
                f"refused: loading it would import and run {found.group(1)}; edgeaudio loads only tensors and "
                f"plain data (torch.load weights_only=True). Re-save just the weights: "
                f"torch.save({{'model_state': model.state_dict()}}, path)",
                path,
            ) from None
        raise CheckpointError("is corrupt: its pickle stream is unreadable", path) from None
    except RuntimeError as exc:
        if "zip archive" in str(exc) or "PytorchStreamReader" in str(exc):
            raise CheckpointError("is truncated or corrupt: its zip archive cannot be read", path) from None
        raise CheckpointError(f"cannot be loaded: {str(exc).splitlines()[0]}", path) from None
    except (EOFError, ValueError, OSError) as exc:
        raise CheckpointError(f"is truncated or corrupt ({type(exc).__name__}: {exc})", path) from None
