"""YAMNet: the model, its configuration, and how its weights are laid out."""

from edgeaudio.models.yamnet.config import YAMNetConfig
from edgeaudio.models.yamnet.network import YAMNet

__all__ = ["YAMNet", "YAMNetConfig"]
