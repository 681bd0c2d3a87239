"""What installs: every package folder is in pyproject's list, and the export machinery is edgeaudio.exporters,
never a top-level `exporters` (an unrelated package has that name)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_in_pyproject():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "edgeaudio").rglob("__init__.py")}
    on_disk.add("edgeaudio.exporters")
    assert set(setuptools["packages"]) == on_disk
    assert setuptools["package-dir"] == {"edgeaudio.exporters": "exporters"}


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True)


def test_exporters_import_as_part_of_edgeaudio_and_not_on_their_own(tmp_path):
    for cwd in (ROOT, tmp_path):  # from the checkout's root (the folder on sys.path) and from anywhere else
        alone = _python("import exporters", cwd)
        assert alone.returncode != 0 and ("ImportError" in alone.stderr or "ModuleNotFoundError" in alone.stderr), alone.stderr
        inside = _python("import edgeaudio.exporters as e; print(sorted(e.EXPORTERS))", cwd)
        assert inside.returncode == 0, inside.stderr
        assert inside.stdout.strip() == "['executorch', 'onnx', 'tflite']"
