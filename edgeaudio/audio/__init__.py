"""Reading audio files for the front end: decoding (libsndfile), mono mixing, sample-rate conversion (libsoxr).

Runtime side: numpy, soundfile and soxr, all with aarch64 wheels.
"""

from .errors import AudioFormatError
from .files import AUDIO_SUFFIXES, audio_files
from .read import MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, load_audio, read_audio, resample, to_mono
from .silence import DEFAULT_SILENCE_THRESHOLD, check_not_silent, silence_of_peak, silence_problem
from .write import write_audio, write_wav

__all__ = [
    "AUDIO_SUFFIXES",
    "DEFAULT_SILENCE_THRESHOLD",
    "MAX_CHANNELS",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "AudioFormatError",
    "audio_files",
    "check_not_silent",
    "load_audio",
    "read_audio",
    "resample",
    "silence_of_peak",
    "silence_problem",
    "to_mono",
    "write_audio",
    "write_wav",
]
