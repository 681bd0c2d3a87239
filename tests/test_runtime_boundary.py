"""The runtime side imports numpy and the standard library only: torch, tensorflow and onnx stay unimported."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

HEAVY = ("torch", "tensorflow", "onnx", "onnxruntime", "onnx2tf", "yaml", "librosa", "scipy")

# A finder that makes the heavy packages unimportable, as on a Raspberry Pi with the base install only.
BLOCKER = textwrap.dedent(
    f"""
    import sys, importlib.abc
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {HEAVY!r}:
                raise ImportError(f"{{name}} is not installed on this device")
    sys.meta_path.insert(0, Block())
    """
)


def _run(code: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter, and every Python process it starts, with the heavy packages blocked
    (a sitecustomize on PYTHONPATH installs the blocker at start-up)."""
    with tempfile.TemporaryDirectory() as blockdir:
        (Path(blockdir) / "sitecustomize.py").write_text(BLOCKER)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [blockdir, os.environ.get("PYTHONPATH")]))}
        return subprocess.run([sys.executable, "-c", "import sys\n" + textwrap.dedent(code)], capture_output=True, text=True, env=env)


def test_runtime_modules_import_without_torch_tensorflow_or_onnx():
    proc = _run(
        """
        import numpy as np
        import edgeaudio.cli, edgeaudio.parity, edgeaudio.synthetic, edgeaudio.frontend, edgeaudio.audio
        import edgeaudio.errors, edgeaudio.atomic, edgeaudio.hashing
        from edgeaudio.audio import resample
        from edgeaudio.frontend import PRESETS, clip_to_model_inputs
        wave = resample(np.sin(np.arange(44100) * 0.05), 44100, 16000)
        for preset in ("vggsound", "yamnet"):
            assert clip_to_model_inputs(wave, PRESETS[preset]).ndim == 4
        loaded = [m for m in sys.modules if m.split(".")[0] in {heavy!r}]
        assert not loaded, loaded
        print("ok")
        """.format(heavy=HEAVY)
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_cli_help_and_parity_metrics_work_with_the_heavy_packages_blocked():
    proc = _run(
        """
        import numpy as np
        from edgeaudio.cli import main
        from edgeaudio.parity import Bounds, check
        from edgeaudio.synthetic import synthetic_logmel
        x = synthetic_logmel(2, 64, 32)
        result = check("same", "itself", {"x": (x.reshape(2, -1), x.reshape(2, -1))}, Bounds(max_rel=0.0))
        assert result.passed
        raise SystemExit(main(["--help"]))
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "fold" in proc.stdout and "info" in proc.stdout


def test_verify_of_an_exported_tflite_model_runs_with_only_numpy_and_the_interpreter(exported):
    model = exported[0] / "int8" / "events_int8.tflite"
    proc = _run(
        f"""
        from edgeaudio.cli import main
        code = main(["verify", {str(model)!r}, "--per-layer"])
        heavy = [m for m in sys.modules if m.split(".")[0] in {HEAVY!r}]
        assert not heavy, heavy
        raise SystemExit(code)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "PASS" in proc.stdout and "SQNR" in proc.stdout


def test_predict_on_audio_runs_with_only_numpy_and_the_interpreter(exported, trained):
    model = exported[0] / "int8" / "events_int8.tflite"
    clip = sorted(trained.audio_dir.glob("*.wav"))[0]
    proc = _run(
        f"""
        from edgeaudio.cli import main
        code = main(["predict", {str(model)!r}, {str(clip)!r}])
        heavy = [m for m in sys.modules if m.split(".")[0] in {HEAVY!r}]
        assert not heavy, heavy
        raise SystemExit(code)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert clip.name in proc.stdout



def test_bench_runs_with_only_numpy_and_the_interpreter(exported):
    folder = exported[0] / "int8"
    proc = _run(
        f"""
        from edgeaudio.cli import main  # each model is measured in a child process, blocked the same way
        code = main(["bench", {str(folder / "events_int8.tflite")!r}, {str(folder / "events_fp32.tflite")!r}, "--runs", "5"])
        heavy = [m for m in sys.modules if m.split(".")[0] in {HEAVY!r}]
        assert not heavy, heavy
        raise SystemExit(code)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "events_int8.tflite" in proc.stdout and "XNNPACK" in proc.stdout
