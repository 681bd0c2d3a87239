"""edgeaudio's LEAN-style model: the model, its configuration, and how its checkpoints are laid out."""

from edgeaudio.models.lean.config import LEANConfig
from edgeaudio.models.lean.network import LEANStyle

__all__ = ["LEANConfig", "LEANStyle"]
