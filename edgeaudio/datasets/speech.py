"""Real-ish audio made here: speech from espeak-ng in varied voices, placed in silence and mixed with noise from
sox at varied levels, through varied channels, written in the formats people have. For tests and benchmarks
that must judge int8 on audio that no model was tuned on (nothing is downloaded).

Needs the espeak-ng and sox programs (Debian packages of those names; `make test` installs them). Each clip:
- a few random pseudo-words (from syllables, so two seeds share no utterance) spoken by one of VOICES with a
  random variant, speed and pitch;
- placed at a random offset in a clip of digital silence or a faint recording floor;
- mixed with white, pink or brown noise from sox (`synth`, repeatable with -R) at an SNR of -5 to 30 dB, or none;
- through a channel: as is, a telephone band (sox highpass/lowpass), or a room (sox reverb);
- scaled to a peak of -40 to -3 dBFS; written at 16, 22.05, 44.1 or 48 kHz, mono or stereo, as 16-bit WAV,
  float WAV or FLAC.
The class of a clip is its voice: labelled sets come out one folder per voice.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en")
VARIANTS = ("", "+f1", "+f2", "+f3", "+f4", "+m1", "+m2", "+m3", "+m4", "+m7", "+klatt", "+klatt2", "+croak", "+whisper")
_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "sh", "ch", "st", "tr", "gl", "pl")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ee", "oo", "ou", "ay")
_CODAS = ("", "", "n", "t", "s", "k", "m", "nd", "st", "r")
RATES = (16000, 22050, 44100, 48000)


@dataclass
class SpeechClip:
    """How one clip was made (its file, and everything drawn for it)."""

    file: str
    voice: str
    variant: str
    words: str
    speed: int
    pitch: int
    noise: str  # "white", "pink", "brown" or "none"
    snr_db: float | None
    channel: str  # "clean", "telephone", "room"
    peak_dbfs: float
    rate: int
    channels: int

    def to_dict(self) -> dict:
        return asdict(self)


def tools_missing() -> list[str]:
    """The programs this module needs that are not on PATH."""
    return [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]


def _words(rng: np.random.Generator) -> str:
    def word() -> str:
        return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(rng.integers(1, 4)))

    return " ".join(word() for _ in range(rng.integers(3, 9)))


def _run(*command: str) -> None:
    subprocess.run(list(command), check=True, capture_output=True)


def _read(path: Path) -> tuple[np.ndarray, int]:
    import soundfile

    x, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    return x.mean(axis=1), rate


def _speech(tmp: Path, text: str, voice: str, speed: int, pitch: int, channel: str, rate: int) -> np.ndarray:
    """espeak-ng's utterance, trimmed of its own silence, through the channel, at `rate`."""
    raw, shaped = tmp / "speech.wav", tmp / "shaped.wav"
    _run("espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(raw), text)
    effects = {"clean": [], "telephone": ["highpass", "300", "lowpass", "3400"], "room": ["reverb", "50", "50", "60"]}[channel]
    _run("sox", str(raw), "-r", str(rate), "-b", "32", "-e", "floating-point", str(shaped), *effects)
    speech, _ = _read(shaped)
    loud = np.flatnonzero(np.abs(speech) > 1e-4)
    return speech[loud[0] : loud[-1] + 1] if loud.size else speech


def _noise(tmp: Path, color: str, samples: int, rate: int, seed: int) -> np.ndarray:
    path = tmp / "noise.wav"
    _run("sox", "-R", "-r", str(rate), "-c", "1", "-n", "-b", "32", "-e", "floating-point", str(path), "synth",
         f"{samples}s", f"{color}noise", "vol", "0.5")
    noise, _ = _read(path)
    noise = np.roll(noise[:samples], int(np.random.default_rng(seed).integers(samples)))  # -R repeats: shift per clip
    return noise / (np.std(noise) + 1e-12)


def make_clip(path: Path, seconds: float, rng: np.random.Generator, tmp: Path) -> SpeechClip:
    """One clip written to `path` (its suffix is replaced by the format drawn); see the module docstring."""
    import soundfile

    rate = int(rng.choice(RATES, p=[0.55, 0.15, 0.15, 0.15]))
    n = int(round(seconds * rate))
    voice, variant = str(rng.choice(VOICES)), str(rng.choice(VARIANTS))
    speed, pitch = int(rng.integers(120, 221)), int(rng.integers(20, 81))
    channel = str(rng.choice(["clean", "telephone", "room"], p=[0.5, 0.25, 0.25]))
    words = _words(rng)
    speech = _speech(tmp, words, voice + variant, speed, pitch, channel, rate)[:n]
    speech = speech / (np.max(np.abs(speech)) + 1e-12)
    clip = np.zeros(n)
    offset = int(rng.integers(0, n - len(speech) + 1))
    clip[offset : offset + len(speech)] = speech
    color = str(rng.choice(["white", "pink", "brown", "none"], p=[0.25, 0.3, 0.2, 0.25]))
    snr = None
    if color != "none":
        snr = float(rng.uniform(-5, 30))
        clip += _noise(tmp, color, n, rate, int(rng.integers(1 << 30))) * np.sqrt(np.mean(speech**2) / 10 ** (snr / 10))
    peak = float(rng.uniform(-40, -3))
    clip *= 10 ** (peak / 20) / (np.max(np.abs(clip)) + 1e-12)
    if rng.random() < 0.6:  # a faint recording floor; otherwise the silence stays digital
        clip += rng.standard_normal(n) * 10 ** (rng.uniform(-90, -65) / 20)
    channels = 2 if rng.random() < 0.2 else 1
    data = np.stack([clip, clip * rng.uniform(0.7, 1.0)], axis=1) if channels == 2 else clip
    suffix, subtype = [(".wav", "PCM_16"), (".wav", "FLOAT"), (".flac", "PCM_24")][rng.choice(3, p=[0.6, 0.15, 0.25])]
    path = path.with_suffix(suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), data.astype(np.float32), rate, subtype=subtype)
    return SpeechClip(str(path), voice, variant, words, speed, pitch, color, None if snr is None else round(snr, 1), channel,
                      round(peak, 1), rate, channels)


def write_speech(folder: str | os.PathLike, count: int, seed: int, seconds: float = 5.12, by_voice: bool = True) -> list[SpeechClip]:
    """`count` clips in `folder` (one sub-folder per voice when `by_voice`: the layout `eval` reads), deterministic
    for a seed; returns how each was made. RuntimeError when espeak-ng or sox is missing."""
    missing = tools_missing()
    if missing:
        raise RuntimeError(f"making speech clips needs {' and '.join(missing)} (Debian packages espeak-ng, sox)")
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    clips = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(count):
            clip = make_clip(folder / f"speech_{seed}_{i:04d}.wav", seconds, rng, Path(tmp))
            if by_voice:
                final = folder / clip.voice / Path(clip.file).name
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(clip.file, final)
                clip.file = str(final)
            clips.append(clip)
    return clips
