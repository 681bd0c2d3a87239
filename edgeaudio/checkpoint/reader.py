"""Reading a checkpoint file without ever executing code from it.

torch.load with weights_only=True unpickles only tensors and plain containers; anything that would import and
call a global (the way a malicious pickle runs code) is refused before it happens. Header bytes are checked
first so that a file of another kind gets a message that says what it is.

Keras weights files (HDF5, the layout `model.save_weights` writes) are read with h5py as plain arrays: the
root's `layer_names` attribute lists the layers in order, each layer's group lists its weights in a
`weight_names` attribute, and each weight is a dataset at `<layer name>/<weight name>`. No Keras model is
built and no stored model config is ever deserialised.
"""

from __future__ import annotations

import os
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeaudio.errors import CheckpointError

ZIP_MAGIC = b"PK\x03\x04"
LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0a"  # torch.save's pre-1.6 format opens with a pickled magic number
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


@dataclass
class KerasWeights:
    """The weights of a Keras `save_weights` HDF5 file.

    `layers` maps each layer that has weights, in the file's order, to its weights in stored order:
    {layer name: {weight name as stored (e.g. "layer1/conv/kernel:0"): array}}. Weightless layers are left out.
    """

    layers: dict[str, dict[str, np.ndarray]]
    keras_version: str | None = None


def _describe_foreign(head: bytes) -> str:
    if head[4:8] == b"TFL3":
        return "is a TFLite model, not a PyTorch checkpoint"
    if head[:6] == b"\x93NUMPY":
        return "is a NumPy .npy array, not a PyTorch checkpoint"
    if head[:4] == b"RIFF":
        return "is a RIFF file (audio?), not a PyTorch checkpoint"
    return f"is not a PyTorch checkpoint (it starts with bytes {head[:8].hex(' ')})"


def read_checkpoint_file(path: str | os.PathLike) -> Any:
    """Return the object stored by torch.save in `path`, loaded with tensors only (weights_only=True), or, for
    an HDF5 file, its Keras weights as a KerasWeights.

    Raises CheckpointError naming the file for: a missing path, a directory, an empty, truncated or foreign
    file, a pickle that would run code, and an HDF5 file that is not a Keras weights file.
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
    if head.startswith(HDF5_MAGIC):
        return read_keras_weights(path)
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


def _attr_strings(group, name: str) -> list[str] | None:
    """A string-list attribute, joined from Keras's numbered chunks (`name0`, `name1`, ...) when it was split to
    fit HDF5's attribute size limit; None when absent."""
    if name in group.attrs:
        chunks = [group.attrs[name]]
    else:
        chunks, i = [], 0
        while f"{name}{i}" in group.attrs:
            chunks.append(group.attrs[f"{name}{i}"])
            i += 1
        if not chunks:
            return None
    values = [v for chunk in chunks for v in np.atleast_1d(chunk).tolist()]
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def read_keras_weights(path: str | os.PathLike) -> KerasWeights:
    """The weights of the Keras `save_weights` HDF5 file `path` (also the `model_weights` group of a whole
    model saved with `model.save`), read as arrays with h5py.

    Raises CheckpointError naming the file when h5py is missing, the file is truncated or corrupt, or it is not
    laid out the way Keras writes weights.
    """
    path = Path(path)
    try:
        import h5py
    except ImportError:
        raise CheckpointError("is an HDF5 file; reading Keras weights needs h5py (pip install h5py)", path) from None
    try:
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "layer_names" not in f.attrs and "model_weights" in f else f
            names = _attr_strings(root, "layer_names")
            if names is None:
                raise CheckpointError(
                    "is an HDF5 file but not a Keras weights file (no layer_names attribute, as save_weights "
                    "writes; Keras 3 .weights.h5 files are not read)",
                    path,
                )
            layers: dict[str, dict[str, np.ndarray]] = {}
            for name in names:
                if name not in root:
                    raise CheckpointError(f"is truncated or corrupt: layer {name!r} is listed but has no group", path)
                weight_names = _attr_strings(root[name], "weight_names") or []
                weights = {}
                for weight in weight_names:
                    if weight not in root[name]:
                        raise CheckpointError(f"is truncated or corrupt: weight {name}/{weight} is listed but missing", path)
                    weights[weight] = np.asarray(root[name][weight][()])
                if weights:
                    layers[name] = weights
            version = root.attrs.get("keras_version")
    except (OSError, KeyError, RuntimeError) as exc:  # h5py's errors for damaged files
        reason = str(exc).strip("'\"").splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"is truncated or corrupt: h5py cannot read it ({reason})", path) from None
    if isinstance(version, bytes):
        version = version.decode("utf8")
    return KerasWeights(layers, None if version is None else str(version))
