"""AudioRepInceptionNeXt: the model, its configuration, and how its checkpoints are laid out."""

from edgeaudio.models.audiorepinceptionnext.config import AudioRepInceptionNeXtConfig
from edgeaudio.models.audiorepinceptionnext.network import AudioRepInceptionNeXt

__all__ = ["AudioRepInceptionNeXt", "AudioRepInceptionNeXtConfig"]
