"""Checkpoints in and out: the official format, edgeaudio's own, bare and DDP state dicts."""

from edgeaudio.checkpoint.load import LoadedCheckpoint, load_checkpoint
from edgeaudio.checkpoint.save import save_edgeaudio, save_official

__all__ = ["LoadedCheckpoint", "load_checkpoint", "save_edgeaudio", "save_official"]
