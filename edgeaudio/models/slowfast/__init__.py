"""The auditory Slow-Fast baseline: model, configuration and checkpoint layout."""

from edgeaudio.models.slowfast.config import SlowFastConfig
from edgeaudio.models.slowfast.network import SlowFast

__all__ = ["SlowFast", "SlowFastConfig"]
