"""The feature pipelines of the models edgeaudio serves, one `FrontendConfig` per dataset.

Official AudioRepInceptionNeXt / auditory-slow-fast features (slowfast/datasets/audio_loader_*.py and the
configs/*/AudioRepInceptionNeXt.yaml of StevenLauHKHK/AudioRepInceptionNeXt): librosa STFT n_fft 2048, Hann,
win_length = round(WINDOW_LENGTH ms * sr / 1000), hop = round(HOP_LENGTH ms * sr / 1000), centred with zero
padding, magnitude, 128 HTK mel bins without normalisation (fmin 0, fmax sr/2), log(mel + 1e-6).
ensemble_views is each config's TEST.NUM_ENSEMBLE_VIEWS (10, the default, where the YAML does not set it).

YAMNet (tensorflow/models research/audioset/yamnet params.py, features.py): 25 ms / 10 ms at 16 kHz, FFT 512,
no centring, 64 TF mel bands 125-7500 Hz, log(mel + 0.001), 96-frame patches every 48 frames.
"""

from __future__ import annotations

from .config import FrontendConfig


def official_frontend(sample_rate: int, window_ms: float, hop_ms: float, clip_seconds: float, frames: int,
                      views: int = 1, clip_pad: str = "edge_frames", n_mels: int = 128) -> FrontendConfig:
    """The official AudioRepInceptionNeXt / auditory-slow-fast features for the AUDIO_DATA values of a cfg."""
    return FrontendConfig(
        kind="official_logmel",
        sample_rate=sample_rate,
        n_fft=2048,
        win_length=int(round(window_ms * sample_rate / 1000)),
        hop_length=int(round(hop_ms * sample_rate / 1000)),
        n_mels=n_mels,
        fmin=0.0,
        fmax=sample_rate / 2,
        mel_scale="htk",
        log_offset=1e-6,
        center=True,
        pad_mode="constant",
        frames=frames,
        window_hop_frames=frames,  # consecutive windows do not overlap (see windows.py)
        clip_seconds=clip_seconds,
        clip_pad=clip_pad,
        ensemble_views=views,
    )


PRESETS: dict[str, FrontendConfig] = {
    "vggsound": official_frontend(16000, 20, 10, 5.119, 512, views=2),
    "epic-sounds": official_frontend(24000, 10, 5, 2.08, 416, views=5),
    "epic-kitchens": official_frontend(24000, 10, 5, 2.08, 416, views=10),
    "speechcommands": official_frontend(16000, 5, 2, 1.023, 512, views=1),
    "nsynth": official_frontend(16000, 20, 10, 4.16, 416, views=1),
    # The official UrbanSound8K loader pads short clips in the waveform (librosa.util.fix_length, mode 'edge').
    "urbansound8k": official_frontend(16000, 20, 10, 4.16, 416, views=2, clip_pad="edge_samples"),
    "yamnet": FrontendConfig(
        kind="yamnet",
        sample_rate=16000,
        n_fft=512,
        win_length=400,
        hop_length=160,
        n_mels=64,
        fmin=125.0,
        fmax=7500.0,
        mel_scale="tf",
        log_offset=0.001,
        center=False,
        pad_mode="constant",
        frames=96,
        window_hop_frames=48,
        # One 96-frame patch needs 0.96 s + one window - one hop = 15600 samples (features.pad_waveform).
        clip_seconds=0.975,
        clip_pad="yamnet_zeros",
        ensemble_views=1,
    ),
}


def yamnet_waveform(patches: int) -> FrontendConfig:
    """Raw 16 kHz windows of `patches` YAMNet patches, for models that compute YAMNet's log-mel in their graph
    (the LEAN-style model); consecutive windows start `patches` patch hops apart."""
    frames = 96 + 48 * (patches - 1)
    fields = {**PRESETS["yamnet"].to_dict(), "kind": "yamnet_waveform", "frames": frames,
              "window_hop_frames": 48 * patches, "clip_seconds": (15600 + 7680 * (patches - 1)) / 16000}
    return FrontendConfig(**fields)


def get_preset(name: str) -> FrontendConfig:
    """The config named `name` (a key of PRESETS); ValueError lists the known names otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown frontend preset {name!r}; known presets: {sorted(PRESETS)}") from None


def waveform_frontend(sample_rate: int, window_samples: int, hop_samples: int | None = None) -> FrontendConfig:
    """Raw windows of `window_samples` samples every `hop_samples` (default: back to back) for a model that takes
    the waveform itself (kind "waveform": a frame is one sample; the STFT fields describe nothing). Audio after
    the last whole window is zero-padded into one more, as YAMNet pads."""
    return FrontendConfig(kind="waveform", sample_rate=sample_rate, n_fft=1, win_length=1, hop_length=1, n_mels=1,
                          fmin=0.0, fmax=sample_rate / 2, mel_scale="htk", log_offset=1.0, center=False,
                          pad_mode="constant", frames=window_samples, window_hop_frames=hop_samples or window_samples,
                          clip_seconds=window_samples / sample_rate, clip_pad="yamnet_zeros")
