"""edgeaudio: from a trained PyTorch audio checkpoint to a fast, verified model on an edge device."""

__version__ = "0.1.0"
