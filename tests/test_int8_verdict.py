"""The int8 verdict describes the model, not the luck of the draw.

Five training seeds of a small model whose int8 accuracy is unchanged all pass, exported with the mission's
command as typed (`export CKPT --target tflite --int8`, no --calib: generated audio through the model's own front
end). Real defects fail: a calibration set of the wrong distribution, and an int8 file with one layer's scale
corrupted.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import train_events, wrong_calibration
from edgeaudio.cli import main
from edgeaudio.parity import Bounds, check, mcnemar_worse

SEEDS = (0, 1, 2, 3, 4)


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    """Per seed: (official-format checkpoint with its front end, PyTorch model); plus 80 labelled test windows."""
    from edgeaudio.checkpoint import save_official
    from edgeaudio.datasets.events import make_events
    from edgeaudio.frontend import clip_to_model_inputs

    root = tmp_path_factory.mktemp("events")
    models = {}
    for seed in SEEDS:
        model, frontend, _ = train_events(seed, per_class=30, epochs=20)
        models[seed] = (save_official(model, root / f"events_{seed}.pyth", epoch=19, frontend=frontend), model)
    waves, labels = make_events(10, 16000, 0.95, seed=77)
    test = np.concatenate([clip_to_model_inputs(w, frontend)[:1] for w in waves])
    return models, test, labels


@pytest.fixture(scope="module")
def exported(events, tmp_path_factory):
    out = tmp_path_factory.mktemp("int8")
    codes = {}
    for seed, (ckpt, _) in events[0].items():
        codes[seed] = main(["export", str(ckpt), "--target", "tflite", "--int8", "-o", str(out / str(seed))])
    return out, codes


def _int8(out, seed):
    return out / str(seed) / f"events_{seed}_int8.tflite"


@pytest.mark.parametrize("seed", SEEDS)
def test_the_missions_command_as_typed_passes_for_every_training_seed_and_accuracy_is_unchanged(events, exported, seed, capsys):
    import torch

    from edgeaudio.runtime.runner import Runner

    out, codes = exported
    assert codes[seed] == 0
    models, test, labels = events
    with torch.no_grad():
        float_right = models[seed][1].eval()(torch.from_numpy(test)).argmax(1).numpy() == labels
    int8_right = Runner(_int8(out, seed)).run(test)[0].argmax(1) == labels
    assert float_right.mean() > 0.5  # a trained model, not a flat one
    # Accuracy unchanged on the same 80 clips: a loss counts only when the paired (McNemar) test says it is real.
    # Measured (lost, gained): (1, 1), (3, 0), (0, 1), (1, 1), (0, 1) for seeds 0-4; p >= 0.125.
    lost, gained = int(np.sum(float_right & ~int8_right)), int(np.sum(~float_right & int8_right))
    assert mcnemar_worse(lost, gained) >= 0.05, (lost, gained)
    manifest = json.loads(_int8(out, seed).with_name(_int8(out, seed).name + ".manifest.json").read_text())
    assert manifest["export_options"]["calibration"] == "synthetic"
    assert manifest["export_options"]["calibration_kind"] == "generated audio through the model's front end"
    capsys.readouterr()
    assert main(["verify", str(_int8(out, seed))]) == 0
    assert "calibration: synthetic (generated audio through the model's front end)" in capsys.readouterr().out


def test_no_calib_warns_once_and_says_what_it_calibrated_on(events, tmp_path, capsys):
    ckpt = events[0][0][0]
    assert main(["export", str(ckpt), "--target", "tflite", "--int8", "-o", str(tmp_path)]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "no --calib given" in warnings[0] and "generated audio" in warnings[0], warnings


@pytest.mark.parametrize("seed", (0, 3))
def test_a_calibration_set_of_the_wrong_distribution_fails_the_int8_gate(events, seed, tmp_path, capsys):
    ckpt, test = events[0][seed][0], events[1]
    np.save(tmp_path / "wrong.npy", wrong_calibration(test[:32]))  # judged on 32 real windows
    code = main(["export", str(ckpt), "--target", "tflite", "--int8", "--calib", str(tmp_path / "wrong.npy"), "-o", str(tmp_path / "o")])
    assert code == 1, capsys.readouterr().out
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").glob("*.tflite"))


def _corrupt_scale(path, out_path, op_index: int, factor: float):
    """Write `path` with the output scale of operator `op_index` multiplied by `factor` (the flatbuffer's own schema)."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
    graph = model.subgraphs[0]
    tensor = graph.tensors[graph.operators[op_index].outputs[0]]
    tensor.quantization.scale = [s * factor for s in tensor.quantization.scale]
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    out_path.write_bytes(bytes(builder.Output()))


def test_an_int8_file_with_one_layers_scale_corrupted_fails_the_gate(exported, tmp_path):
    from edgeaudio.runtime.runner import Runner

    out, _ = exported
    model = _int8(out, 0)
    manifest = json.loads(model.with_name(model.name + ".manifest.json").read_text())
    with np.load(model.with_name("events_0.expected.npz")) as npz:
        inputs, exact = npz["inputs"], npz["reference/probabilities"]
    bounds = {"probabilities": Bounds(**manifest["bounds"]["probabilities"])}
    assert check("int8", "float64", {"probabilities": (exact, Runner(model).run(inputs)[0])}, bounds).passed
    broken = tmp_path / "broken.tflite"
    # three quarters in (measured: corrupting a scale early on is often absorbed by the layers after it)
    _corrupt_scale(model, broken, op_index=3 * len(Runner(model).model.ops()) // 4, factor=2.0)
    result = check("int8", "float64", {"probabilities": (exact, Runner(broken).run(inputs)[0])}, bounds)
    assert not result.passed


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """Speech from espeak-ng in noise from sox (edgeaudio.datasets.speech): 40 clips a user might calibrate on,
    and 80 others (another seed: other voices' draws, words, levels, channels) to judge on."""
    from edgeaudio.datasets.speech import write_speech

    root = tmp_path_factory.mktemp("speech")
    write_speech(root / "calib", 40, seed=71, seconds=2.0)
    write_speech(root / "judge", 80, seed=72, seconds=2.0)
    return root


def test_default_calibration_is_as_good_as_the_users_own_audio_on_speech_it_never_saw(trained, speech, tmp_path):
    """The mission's command with no --calib against --calib with 40 real-ish clips, both judged against the fp32 file
    on every window of 80 other clips: agreement held to the int8 gate's rule, and the default not worse than the
    user's audio by a paired test."""
    from edgeaudio.audio import audio_files
    from edgeaudio.pipeline.predict import Predictor
    from edgeaudio.runtime.runner import Runner

    assert main(["export", str(trained.checkpoint), "--target", "tflite", "--int8", "-o", str(tmp_path / "default")]) == 0
    assert main(["export", str(trained.checkpoint), "--target", "tflite", "--int8", "--calib", str(speech / "calib"),
                 "-o", str(tmp_path / "audio")]) == 0
    fp32 = Predictor(tmp_path / "default" / "events_fp32.tflite")
    windows = np.concatenate([fp32.inputs_for(clip)[0] for clip in audio_files([speech / "judge"])])
    reference = fp32.runner.run(windows)[0]
    agrees = {}
    for kind in ("default", "audio"):
        int8 = Runner(tmp_path / kind / "events_int8.tflite").run(windows)[0]
        result = check(kind, "fp32", {"probabilities": (reference, int8)}, Bounds(cosine=0.99, top1=0.98))
        assert result.passed, (kind, result.failures)
        agrees[kind] = int8.argmax(1) == reference.argmax(1)
    lost = int(np.sum(agrees["audio"] & ~agrees["default"]))
    gained = int(np.sum(~agrees["audio"] & agrees["default"]))
    assert mcnemar_worse(lost, gained) >= 0.05, (lost, gained)
