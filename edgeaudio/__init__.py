"""edgeaudio: from a trained PyTorch audio checkpoint to a fast, verified model on an edge device.

The Python API (edgeaudio.api): edgeaudio.export, edgeaudio.fold, edgeaudio.verify, edgeaudio.evaluate,
edgeaudio.predict, edgeaudio.bench, edgeaudio.info. Importing edgeaudio imports none of torch, tensorflow or onnx.
"""

__version__ = "0.1.0"

from edgeaudio.api import bench, evaluate, export, info, predict, verify  # noqa: E402

__all__ = ["__version__", "bench", "evaluate", "export", "fold", "info", "predict", "verify"]


def __getattr__(name: str):
    # `edgeaudio.fold` is the fold package, which needs torch: imported on first use, and callable as the API's
    # fold (edgeaudio/fold/__init__.py)
    if name == "fold":
        import importlib

        return importlib.import_module("edgeaudio.fold")
    raise AttributeError(f"module 'edgeaudio' has no attribute {name!r}")
