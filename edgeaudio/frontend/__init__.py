"""The numpy front end: waveform -> log-mel features -> model windows, as each model was trained.

Runtime side: imports numpy and the standard library only, so it runs on a Raspberry Pi beside the interpreter.
"""

from .config import CLIP_PADS, KINDS, MEL_SCALES, PAD_MODES, WAVEFORM_KINDS, FrontendConfig
from .logmel import hann_periodic, logmel, stft_magnitude
from .mel import htk_filterbank, mel_filterbank, tf_filterbank
from .presets import PRESETS, get_preset, official_frontend, waveform_frontend, yamnet_waveform
from .windows import clip_to_model_inputs, pad_like_yamnet, window_starts, windows

__all__ = [
    "CLIP_PADS",
    "KINDS",
    "MEL_SCALES",
    "PAD_MODES",
    "WAVEFORM_KINDS",
    "PRESETS",
    "FrontendConfig",
    "clip_to_model_inputs",
    "get_preset",
    "hann_periodic",
    "htk_filterbank",
    "logmel",
    "mel_filterbank",
    "official_frontend",
    "pad_like_yamnet",
    "stft_magnitude",
    "tf_filterbank",
    "window_starts",
    "waveform_frontend",
    "windows",
    "yamnet_waveform",
]
