"""Outputs written as results arrive, so an interrupted run of 10,000 clips keeps every clip it finished.

Each record is one whole line, flushed as soon as it is written, to a temporary name beside the output; the
file is renamed into place when the run ends, however it ends (finished, a bad clip, Ctrl-C, SIGTERM). Only a
SIGKILL or a power cut leaves the records under the temporary name `.NAME.partial`.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from edgeaudio.atomic import check_output_file


class StreamedFile:
    """A text output written line by line to `.NAME.partial` and renamed to NAME by close()."""

    def __init__(self, path: str | os.PathLike):
        self.path = check_output_file(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.partial = self.path.with_name(f".{self.path.name}.partial")
        self._handle = open(self.partial, "w", encoding="utf-8", newline="")

    def write_line(self, line: str) -> None:
        self._handle.write(line.rstrip("\n") + "\n")
        self._handle.flush()

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()
            os.replace(self.partial, self.path)

    def __enter__(self) -> "StreamedFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class JsonLines(StreamedFile):
    """One JSON object per line (JSON Lines): every finished line is a whole record."""

    def write(self, record: dict) -> None:
        self.write_line(json.dumps(record, separators=(",", ":")))


class FollowedJsonLines(JsonLines):
    """JSON Lines written straight to NAME, so `tail -f NAME` follows a session that never ends by itself
    (listen). Every line is whole when it is flushed; only a SIGKILL mid-line can leave a partial last line."""

    def __init__(self, path: str | os.PathLike):
        self.path = check_output_file(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.partial = self.path  # close() renames it onto itself: nothing to move
        self._handle = open(self.path, "w", encoding="utf-8", newline="")


class CsvRows(StreamedFile):
    """CSV with a header row, one row per record, `columns` in order."""

    def __init__(self, path: str | os.PathLike, columns: list[str]):
        super().__init__(path)
        self.columns = columns
        self.write(dict(zip(columns, columns)))

    def write(self, row: dict) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(["" if row.get(c) is None else row[c] for c in self.columns])
        self.write_line(buffer.getvalue())


def is_json_lines(path: str | os.PathLike) -> bool:
    """Whether an output named `path` wants JSON Lines (.jsonl, .ndjson) rather than one JSON document."""
    return Path(path).suffix.lower() in (".jsonl", ".ndjson")
