"""Bad input: one line naming the file and the problem, exit status 2, no traceback, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from edgeaudio.cli import main
from tests.official_reference import OfficialAudioRepInceptionNeXt, official_save_checkpoint

SMALL = dict(classes=(4,), frames=64, mels=32, width=4)


class Evil:
    """Unpickling this would create a marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "good.pyth"
    return official_save_checkpoint(OfficialAudioRepInceptionNeXt(**SMALL).eval(), path, with_optimizer=False)


def _messages(stderr: str) -> list[str]:
    """stderr without the timed progress lines ("[   0.0s] ...") that precede the work."""
    return [line for line in stderr.strip().splitlines() if not line.startswith("[")]


def _official_dict(good):
    return torch.load(good, weights_only=True)


def _write(path, obj):
    torch.save(obj, path)
    return path


def _cases(tmp, good):
    ckpt = _official_dict(good)
    state = ckpt["model_state"]
    cases = {}
    cases["missing"] = (tmp / "nope.pyth", "no such file")
    (tmp / "adir").mkdir()
    cases["directory"] = (tmp / "adir", "is a directory")
    (tmp / "empty.pyth").write_bytes(b"")
    cases["empty"] = (tmp / "empty.pyth", "is empty")
    data = good.read_bytes()
    (tmp / "truncated.pyth").write_bytes(data[: len(data) // 2])
    cases["truncated"] = (tmp / "truncated.pyth", "truncated or corrupt")
    (tmp / "notes.pyth").write_text("these are not weights\n")
    cases["not a checkpoint"] = (tmp / "notes.pyth", "not a PyTorch checkpoint")
    (tmp / "model.pyth").write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(64))
    cases["a tflite file"] = (tmp / "model.pyth", "is a TFLite model")
    marker = tmp / "code-ran"
    cases["code-running pickle"] = (_write(tmp / "evil.pyth", {"model_state": Evil(str(marker))}), "refused")
    cases["unknown architecture"] = (_write(tmp / "other.pt", {"conv.weight": torch.zeros(3, 3)}), "no architecture edgeaudio knows")
    fewer = dict(state)
    fewer.pop("s2.pathway0_res0.branch2.a_small.weight")
    cases["missing key"] = (_write(tmp / "fewer.pyth", {**ckpt, "model_state": fewer}), "1 missing (s2.pathway0_res0.branch2.a_small.weight)")
    extra = {**state, "s2.pathway0_res0.branch2.extra.weight": torch.zeros(1)}
    cases["extra key"] = (_write(tmp / "extra.pyth", {**ckpt, "model_state": extra}), "1 unexpected (s2.pathway0_res0.branch2.extra.weight)")
    bent = {**state, "s3.pathway0_res1.branch2.c.weight": torch.zeros(5, 8, 1, 1)}
    cases["shape mismatch"] = (_write(tmp / "bent.pyth", {**ckpt, "model_state": bent}), "s3.pathway0_res1.branch2.c.weight has shape (5, 8, 1, 1)")
    cfg = yaml.safe_load(ckpt["cfg"])
    cfg["MODEL"]["MODEL_NAME"] = "SlowFast"
    cases["cfg names another model"] = (_write(tmp / "slowfast.pyth", {**ckpt, "cfg": yaml.safe_dump(cfg)}), "MODEL_NAME is 'SlowFast'")
    cfg = yaml.safe_load(ckpt["cfg"])
    cfg["RESNET"]["TIME_STRIDES"] = [[2], [2], [2], [2]]
    cases["cfg strides contradict the weights"] = (_write(tmp / "strides.pyth", {**ckpt, "cfg": yaml.safe_dump(cfg)}), "has no s2.pathway0_res0.branch1")
    cases["cfg not yaml"] = (_write(tmp / "badcfg.pyth", {**ckpt, "cfg": "MODEL: [unclosed"}), "not valid YAML")
    return cases, marker


def test_each_bad_checkpoint_gets_one_line_exit_2_and_nothing_written(tmp_path, good, capsys):
    cases, marker = _cases(tmp_path, good)
    for name, (path, expected) in cases.items():
        out = tmp_path / f"out-{name.replace(' ', '_')}.pt"
        code = main(["fold", str(path), "-o", str(out)])
        captured = capsys.readouterr()
        lines = _messages(captured.err)
        assert code == 2, (name, captured.err)
        assert len(lines) == 1 and "Traceback" not in captured.err, (name, captured.err)
        assert str(path) in lines[0] and expected in lines[0], (name, lines[0])
        assert not out.exists(), name
        assert not list(tmp_path.glob(".out-*")), name  # no temporary left behind
    assert not marker.exists(), "unpickling ran code"


def test_unknown_architecture_name_is_a_one_line_error(capsys):
    assert main(["info", "--arch", "wavenet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown architecture 'wavenet'" in err and "audiorepinceptionnext" in err and "\n" not in err


def test_a_config_that_cannot_build_a_network_is_refused(capsys):
    assert main(["info", "--arch", "audiorepinceptionnext", "--mels", "16"]) == 2
    assert "cannot cover" in capsys.readouterr().err


def test_a_setting_the_architecture_does_not_have_is_a_one_line_error(capsys):
    assert main(["info", "--arch", "lean", "--preset", "fsd50k", "--frames", "64"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "has no setting frames" in err and "patches" in err


def test_output_path_that_is_a_directory_is_refused_before_any_work(tmp_path, good, capsys):
    (tmp_path / "out").mkdir()
    assert main(["fold", str(good), "-o", str(tmp_path / "out")]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path, capsys):
    assert main(["--debug", "fold", str(tmp_path / "nope.pyth")]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_the_installed_console_script_exits_2_with_one_line(tmp_path):
    exe = Path(sys.executable).with_name("edgeaudio")
    (tmp_path / "junk.pyth").write_bytes(os.urandom(256))
    proc = subprocess.run([str(exe), "fold", str(tmp_path / "junk.pyth")], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = _messages(proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("edgeaudio: error: ") and "junk.pyth" in lines[0]
    assert proc.stdout == ""
