"""Which files a list of paths names: files as given, folders walked for audio in a stable order."""

from __future__ import annotations

import os
from pathlib import Path

from edgeaudio.errors import InputError

# What libsndfile decodes, by the names people give such files.
AUDIO_SUFFIXES = frozenset({".wav", ".wave", ".rf64", ".w64", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif",
                            ".aiff", ".aifc", ".caf", ".au", ".snd"})


def _walk(folder: Path) -> list[Path]:
    found = []
    for root, dirs, names in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        # Hidden files include macOS's "._clip.wav" resource forks, which copied datasets are full of.
        found += [Path(root) / n for n in sorted(names) if not n.startswith(".") and Path(n).suffix.lower() in AUDIO_SUFFIXES]
    return found


def audio_files(paths: list[str | os.PathLike]) -> list[Path]:
    """The clips `paths` name, in order: a file as given (read or refused later, whatever its name), a folder
    as every audio file under it (by suffix, recursively, sorted by path, hidden files skipped).

    InputError naming the folder when a folder holds no audio file.
    """
    clips: list[Path] = []
    for entry in map(Path, paths):
        if entry.is_dir():
            found = _walk(entry)
            if not found:
                raise InputError(f"holds no audio files ({', '.join(sorted(AUDIO_SUFFIXES))})", entry)
            clips += found
        else:
            clips.append(entry)
    return clips
