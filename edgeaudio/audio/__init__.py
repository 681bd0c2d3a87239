"""Reading audio files for the front end: WAV parsing, mono mixing, sample-rate conversion.

Runtime side: imports numpy and the standard library only.
"""

from .resample import PolyphaseResampler, kaiser_sinc, resample
from .wav import (
    DEFAULT_SILENCE_THRESHOLD,
    AudioFormatError,
    check_not_silent,
    load_audio,
    read_wav,
    write_wav,
)

__all__ = [
    "DEFAULT_SILENCE_THRESHOLD",
    "AudioFormatError",
    "PolyphaseResampler",
    "check_not_silent",
    "kaiser_sinc",
    "load_audio",
    "read_wav",
    "resample",
    "write_wav",
]
