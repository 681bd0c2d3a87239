"""The runtime side imports numpy and the standard library only: torch, tensorflow and onnx stay unimported."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

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


def _run(code: str, also_blocked: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter, and every Python process it starts, with the heavy packages (and
    `also_blocked`) blocked (a sitecustomize on PYTHONPATH installs the blocker at start-up)."""
    with tempfile.TemporaryDirectory() as blockdir:
        (Path(blockdir) / "sitecustomize.py").write_text(BLOCKER.replace(repr(HEAVY), repr(HEAVY + also_blocked)))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [blockdir, os.environ.get("PYTHONPATH")]))}
        return subprocess.run([sys.executable, "-c", "import sys\n" + textwrap.dedent(code)], capture_output=True, text=True, env=env)


def _run_cli(args: list[str]) -> subprocess.CompletedProcess:
    """`edgeaudio ARGS` in a fresh interpreter with the heavy packages blocked, failing if any of them was
    imported all the same; the process exits with the command's status."""
    return _run(
        f"""
        from edgeaudio.cli import main
        code = main({args!r})
        heavy = [m for m in sys.modules if m.split(".")[0] in {HEAVY!r}]
        assert not heavy, heavy
        raise SystemExit(code)
        """
    )


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


def test_verify_of_an_exported_tflite_model_runs_with_only_numpy_and_the_interpreter(exported, tmp_path):
    model = exported[0] / "int8" / "events_int8.tflite"
    report = tmp_path / "verify.html"
    proc = _run_cli(["verify", str(model), "--per-layer", "--report", str(report)])
    assert proc.returncode == 0, proc.stderr
    assert "PASS" in proc.stdout and "SQNR" in proc.stdout
    assert "Per-layer SQNR" in report.read_text()  # the HTML report too: stdlib only


def test_predict_on_a_folder_of_flac_and_48_khz_audio_runs_with_only_numpy_the_interpreter_and_the_audio_libraries(
        exported, trained, tmp_path):
    import soundfile

    from edgeaudio.audio import load_audio

    model = exported[0] / "int8" / "events_int8.tflite"
    clip = sorted(trained.audio_dir.glob("*.wav"))[0]
    soundfile.write(str(tmp_path / "a.flac"), load_audio(clip, 16000), 16000)
    soundfile.write(str(tmp_path / "b48k.wav"), load_audio(clip, 48000), 48000, subtype="PCM_24")
    proc = _run_cli(["predict", str(model), str(tmp_path)])
    assert proc.returncode == 0, proc.stderr
    assert "a.flac" in proc.stdout and "b48k.wav" in proc.stdout


def test_bench_audio_times_every_stage_with_only_numpy_the_interpreter_and_the_audio_libraries(exported, trained, tmp_path):
    import json

    import soundfile

    from edgeaudio.audio import load_audio

    model = exported[0] / "int8" / "events_int8.tflite"
    clip = sorted(trained.audio_dir.glob("*.wav"))[0]
    long = np.tile(load_audio(clip, 44100), 3)  # three windows' worth, at a rate the front end does not use
    soundfile.write(str(tmp_path / "long.flac"), long, 44100)
    proc = _run_cli(["bench", str(model), "--audio", str(tmp_path / "long.flac"), "--threads", "1", "--runs", "4", "--warmup", "1",
                     "--json", str(tmp_path / "lat.json")])
    assert proc.returncode == 0, proc.stderr
    assert "real-time factor" in proc.stdout and "front end" in proc.stdout
    (result,) = json.loads((tmp_path / "lat.json").read_text())["results"]
    stages = {s["stage"]: s for s in result["stages"]}
    assert list(stages) == ["decode", "resample", "front end", "model", "post-processing"]
    assert result["file_rate"] == 44100 and result["model_rate"] == 16000 and result["windows"] >= 3
    assert sum(s["p50_ms"] for s in stages.values()) == pytest.approx(result["total_p50_ms"], rel=0.5)
    assert result["real_time_factor"] == pytest.approx(result["total_p50_ms"] / 1e3 / result["clip_seconds"], rel=1e-3)
    assert all(s["p50_ms"] > 0 for s in stages.values())


def test_bench_runs_with_only_numpy_and_the_interpreter(exported):
    folder = exported[0] / "int8"
    # each model is measured in a child process, blocked the same way
    proc = _run_cli(["bench", str(folder / "events_int8.tflite"), str(folder / "events_fp32.tflite"), "--runs", "5"])
    assert proc.returncode == 0, proc.stderr
    assert "events_int8.tflite" in proc.stdout and "XNNPACK" in proc.stdout


def test_eval_of_exported_models_runs_with_only_numpy_the_interpreter_and_the_audio_libraries(exported, tmp_path):
    from edgeaudio.datasets.events import write_events

    write_events(tmp_path / "clips", 2, 16000, 0.95, seed=4, by_class=True)
    folder = exported[0] / "int8"
    proc = _run_cli(["eval", str(folder / "events_fp32.tflite"), str(folder / "events_int8.tflite"), "--data", str(tmp_path / "clips"),
                     "--max-drop", "5", "--workers", "2", "--json", str(tmp_path / "r.json"), "--confusion", str(tmp_path / "cm")])
    assert proc.returncode == 0, proc.stderr
    assert "top-1 %" in proc.stdout and "events_int8.tflite" in proc.stdout
    assert (tmp_path / "r.json").exists() and (tmp_path / "cm" / "events_int8.tflite.confusion.csv").exists()



def test_listen_runs_with_only_numpy_the_interpreter_and_the_audio_libraries(exported, trained, tmp_path):
    import json

    from edgeaudio.audio import load_audio, write_wav

    model = exported[0] / "int8" / "events_int8.tflite"
    clip = tmp_path / "three.wav"  # 2.85 s: windows every 0.2 s to 1.8 s, and one aligned to the end
    write_wav(clip, np.concatenate([load_audio(p, 16000) for p in sorted(trained.audio_dir.glob("*.wav"))[:3]]), 16000)
    proc = _run_cli(["listen", str(model), str(clip), "--hop", "0.2", "--json", str(tmp_path / "w.jsonl")])
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in (tmp_path / "w.jsonl").read_text().splitlines()]
    assert lines[-1]["summary"]["windows"] == len(lines) - 1 == 11 and lines[1]["start_s"] == 0.2


def test_bench_sustained_and_profile_run_with_only_numpy_and_the_interpreter(exported, tmp_path):
    import json

    model = exported[0] / "int8" / "events_int8.tflite"
    proc = _run_cli(["bench", str(model), "--threads", "1", "--runs", "3", "--sustained", "1", "--profile",
                     "--json", str(tmp_path / "b.json")])
    assert proc.returncode == 0, proc.stderr
    assert "sustained events_int8.tflite" in proc.stdout and "slowest ops of events_int8.tflite" in proc.stdout
    (row,) = json.loads((tmp_path / "b.json").read_text())["rows"]
    assert row["timeline"][0]["runs"] > 0 and row["timeline"][-1]["t_s"] >= 0.5
    ops = row["profile"]
    assert len(ops) > 10 and [o["ms"] for o in ops] == sorted((o["ms"] for o in ops), reverse=True)
    assert sum(o["share"] for o in ops) == pytest.approx(1.0)
    assert ops[0]["op"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "PAD", "MEAN", "AVERAGE_POOL_2D")
    assert sum(o["module"] is not None for o in ops) > len(ops) // 2  # named by PyTorch module from the manifest


def test_device_options_without_the_ssh_library_say_how_to_install_it(exported):
    model = exported[0] / "int8" / "events_int8.tflite"
    proc = _run(
        f"""
        from edgeaudio.cli import main
        raise SystemExit(main(["verify", {str(model)!r}, "--device", "ssh://pi@127.0.0.1:9"]))
        """,
        also_blocked=("asyncssh",),
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "edgeaudio: error: --device needs asyncssh: pip install 'edgeaudio[devices]'"
