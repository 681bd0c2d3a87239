"""Labelled audio as people keep it: a folder with one sub-folder per class, or a table of clips and labels.

Runtime side: the standard library only. What is read here is names; whether they are the model's classes is
decided against the model's own labels (match_labels).

- A folder: every sub-folder is a class, named by the folder; its audio files (walked recursively, as predict
  walks folders) are that class's clips. Hidden folders are skipped; an audio file beside the class folders
  has no label and is refused.
- A table (.csv, or .tsv for tab-separated): a clip path and its label(s) per row. A header row naming the
  columns is optional (path: path, file, filename, fname, clip, audio; labels: label, labels, class, classes,
  target); without one, the first column is the path and the second the labels. Paths are relative to the
  table's folder; a path without a suffix (FSD50K's `fname`) is looked up as a file with any audio suffix.
  Several labels in one field are separated by ';' or '|', or by ',' inside a quoted field (FSD50K's ground
  truth), unless the whole field is itself one of the model's labels.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from edgeaudio.errors import InputError

PATH_COLUMNS = ("path", "file", "filename", "fname", "clip", "audio", "file_name")
LABEL_COLUMNS = ("label", "labels", "class", "classes", "target", "category")
_SEPARATORS = (";", "|", ",")


@dataclass
class LabelledSet:
    """Clips and the raw label field of each (split into names by match_labels), in a stable order."""

    source: str
    kind: str  # "folders" or "table"
    clips: list[Path]
    fields: list[str]  # one label field per clip: a folder name, or a table cell
    rows: list[int] = field(default_factory=list)  # table row of each clip (1-based, header counted), for messages

    def __len__(self) -> int:
        return len(self.clips)


def read_labelled(path: str | os.PathLike) -> LabelledSet:
    """The clips and labels at `path` (a folder of class folders, or a .csv/.tsv table); InputError naming it
    when it is neither or holds no clip."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such file or folder", path)
    return _from_folders(path) if path.is_dir() else _from_table(path)


def _from_folders(root: Path) -> LabelledSet:
    from edgeaudio.audio import AUDIO_SUFFIXES, audio_files

    classes = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    loose = sorted(f.name for f in root.iterdir() if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES)
    if loose:
        raise InputError(f"holds {len(loose)} audio file(s) outside a class folder ({', '.join(loose[:3])}); "
                         "put each clip in the folder named after its class, or give a CSV of path,label", root)
    clips, fields = [], []
    for folder in classes:
        try:
            found = audio_files([folder])
        except InputError:
            continue  # an empty class folder: no clips of that class
        clips += found
        fields += [folder.name] * len(found)
    if not clips:
        raise InputError("holds no class folders with audio files (one sub-folder per class, named by its label)", root)
    return LabelledSet(str(root), "folders", clips, fields)


def _columns(header: list[str]) -> tuple[int, int] | None:
    names = [h.strip().lower() for h in header]
    path_col = next((i for i, n in enumerate(names) if n in PATH_COLUMNS), None)
    label_col = next((i for i, n in enumerate(names) if n in LABEL_COLUMNS), None)
    return (path_col, label_col) if path_col is not None and label_col is not None else None


def _resolve(base: Path, text: str) -> Path:
    from edgeaudio.audio import AUDIO_SUFFIXES

    clip = Path(text) if os.path.isabs(text) else base / text
    if clip.suffix or clip.exists():
        return clip
    for suffix in sorted(AUDIO_SUFFIXES):  # FSD50K's fname column names clips without their ".wav"
        if clip.with_name(clip.name + suffix).exists():
            return clip.with_name(clip.name + suffix)
    return clip


def _from_table(table: Path) -> LabelledSet:
    try:
        text = table.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot be read as a text table of clips and labels: {exc}", table) from None
    delimiter = "\t" if table.suffix.lower() == ".tsv" else ","
    rows = [r for r in csv.reader(text.splitlines(), delimiter=delimiter)]
    numbered = [(i + 1, r) for i, r in enumerate(rows) if any(c.strip() for c in r)]
    if not numbered:
        raise InputError("holds no rows (path,label per row)", table)
    columns = _columns(numbered[0][1])
    if columns is not None:
        numbered = numbered[1:]
    path_col, label_col = columns or (0, 1)
    clips, fields, lines = [], [], []
    for line, row in numbered:
        if len(row) <= max(path_col, label_col) or not row[path_col].strip() or not row[label_col].strip():
            raise InputError(f"row {line} has no clip path and label ({delimiter.join(row)!r}); each row is path{delimiter}label", table)
        clips.append(_resolve(table.parent, row[path_col].strip()))
        fields.append(row[label_col].strip())
        lines.append(line)
    if not clips:
        raise InputError("holds a header but no rows", table)
    return LabelledSet(str(table), "table", clips, fields, lines)


def read_class_names(path: str | os.PathLike) -> list[str]:
    """Class names from a text file, one per line in output order (blank lines skipped)."""
    path = Path(path)
    try:
        names = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot be read as a text file of labels: {exc}", path) from None
    if not names:
        raise InputError("holds no labels (one class name per line)", path)
    return names


def _normal(name: str) -> str:
    """A label as people may spell it: case, spaces, underscores and hyphens aside."""
    return re.sub(r"[^0-9a-z]+", "_", name.casefold()).strip("_")


def split_field(text: str, known: set[str]) -> list[str]:
    """The label names in one field: the whole field when it is a known label, else the parts between the
    first separator it holds (';', '|', then ',')."""
    if text in known or _normal(text) in {_normal(k) for k in known}:
        return [text]
    for separator in _SEPARATORS:
        if separator in text:
            return [part.strip() for part in text.split(separator) if part.strip()]
    return [text]


def match_labels(data: LabelledSet, labels: list[str], multi_label: bool) -> list[list[int]]:
    """Each clip's class indices in `labels` (the model's own, in output order). Names match exactly, or else
    ignoring case, spaces, underscores and hyphens when that names one class only. InputError listing every
    name the model does not have, or a single-label model's clip with several labels."""
    exact = {name: i for i, name in enumerate(labels)}
    normal: dict[str, list[int]] = {}
    for i, name in enumerate(labels):
        normal.setdefault(_normal(name), []).append(i)
    known = set(labels)
    unknown: dict[str, None] = {}
    out: list[list[int]] = []
    for clip, text, row in zip(data.clips, data.fields, data.rows or [None] * len(data.clips)):
        names = split_field(text, known)
        indices = []
        for name in names:
            if name in exact:
                indices.append(exact[name])
            elif len(normal.get(_normal(name), [])) == 1:
                indices.append(normal[_normal(name)][0])
            else:
                unknown[name] = None
        if not multi_label and len(names) > 1:
            where = f"row {row}" if row else str(clip)
            raise InputError(f"{where} gives {len(names)} labels ({text!r}) to a single-label model; one label per clip", data.source)
        out.append(sorted(set(indices)))
    if unknown:
        names = list(unknown)
        shown = ", ".join(repr(n) for n in names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        theirs = ", ".join(labels[:8]) + (", ..." if len(labels) > 8 else "")
        raise InputError(f"{len(names)} label(s) the model does not have: {shown} (its {len(labels)} labels: {theirs})", data.source)
    return out
