"""The Python API as its documentation shows it: docs/api.md's examples run as written, in order, and the calls
return what they say; importing edgeaudio imports no heavy library."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def _examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)


@pytest.mark.slow  # a full int8 export, an evaluation and a benchmark of the small model
def test_the_api_docs_examples_run_as_written(trained, labelled_clips, tmp_path, monkeypatch):
    import shutil

    (tmp_path / "checkpoint_best.pyth").symlink_to(trained.official)
    (tmp_path / "labels.txt").symlink_to(trained.labels)
    clips = tmp_path / "clips"
    clips.mkdir()
    for wav in sorted(Path(trained.audio_dir).rglob("*.wav"))[::2]:  # 40 clips: enough to calibrate and hold out
        shutil.copy(wav, clips / wav.name)
    (tmp_path / "test").symlink_to(labelled_clips)
    monkeypatch.chdir(tmp_path)

    examples = _examples()
    assert len(examples) >= 8, "docs/api.md lost its examples"
    namespace: dict = {}
    printed = io.StringIO()
    for i, code in enumerate(examples):
        with contextlib.redirect_stdout(printed):
            exec(compile(code, f"docs/api.md example {i + 1}", "exec"), namespace)
    out = printed.getvalue()

    result = namespace["result"]
    assert result.passed and [Path(f).name for f in result.files] == [
        "checkpoint_best.onnx", "checkpoint_best_fp32.tflite", "checkpoint_best_int8.tflite"]
    assert all(Path(f).exists() for f in result.files)
    assert "--calib-method mse: ExecuTorch int8 does not honour it" in out
    strict = namespace["strict"]
    if strict.passed:
        assert strict.files and strict.failure is None
    else:  # a float bound at 1 x the floor may fail: then it wrote nothing and says which gate
        assert strict.files == [] and "parity gate" in strict.failure and not list(Path("strict").glob("*.onnx"))
    assert namespace["folded"].passed and Path("deploy.pt").exists()
    assert namespace["report"].passed and namespace["worst"].module
    assert re.search(r"clips/\S+\.wav ok \[\(", out)
    accuracy = namespace["accuracy"]
    assert [Path(m.model).name for m in accuracy.models] == ["checkpoint_best.pyth", "checkpoint_best_int8.tflite"]
    assert namespace["speed"].rows[0].p50_ms > 0
    assert namespace["counts"].to_dict()["forms"][0]["params"] == 11_834_869  # the official VGG-Sound count


def test_importing_edgeaudio_imports_no_heavy_library_and_fold_is_both_package_and_call():
    code = ("import sys, edgeaudio; heavy = [m for m in ('torch', 'tensorflow', 'onnx', 'onnxruntime') if m in sys.modules]; "
            "assert not heavy, heavy; "
            "assert all(callable(getattr(edgeaudio, f)) for f in ('export', 'verify', 'evaluate', 'predict', 'bench', 'info')); "
            "from edgeaudio.fold import fold_model; assert callable(edgeaudio.fold) and edgeaudio.fold.fold_model is fold_model")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_export_takes_either_options_or_arguments(tmp_path):
    import pytest

    import edgeaudio
    from edgeaudio.pipeline.export import ExportOptions

    with pytest.raises(ValueError, match="either options= or the option arguments"):
        edgeaudio.export(tmp_path / "x.pyth", options=ExportOptions(), int8=True)
    with pytest.raises(ValueError, match="exclude each other"):
        edgeaudio.export(tmp_path / "x.pyth", int8=True, fp16=True)
