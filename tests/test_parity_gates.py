"""Parity gates grounded in float32's own noise: correct conversions of hard checkpoints pass, real mistakes fail.

The hard checkpoints are written by the official-format stand-in with realistic statistics (batch norms that
have seen log-mel-like data, then drifted; depthwise kernels whose 21 taps matter; peaked heads), where float32
rounding alone reaches 1e-05 in the probabilities: a fixed 1e-05 bound failed correct folds of them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgeaudio.cli import main
from edgeaudio.parity import Bounds, check, compare
from tests.official_reference import hard_checkpoint

SEEDS = (0, 1, 2, 3, 4)


@pytest.fixture(scope="session")
def hard(tmp_path_factory):
    """Small hard checkpoints (width 16, 10 classes, 256x128; cfg CLIP_SECS 5.119 disagrees with 256 frames), seeds 0-4."""
    root = tmp_path_factory.mktemp("hard")
    return {seed: hard_checkpoint(root / f"small_{seed}.pyth", "small", seed) for seed in SEEDS}


def _json(path):
    return json.loads(path.read_text())


def test_the_hard_checkpoints_are_hard_float32_alone_is_1e5_away_in_probabilities(hard):
    from edgeaudio.checkpoint import load_checkpoint
    from edgeaudio.pipeline.reference import measure_reference
    from edgeaudio.synthetic import synthetic_logmel

    loaded = load_checkpoint(hard[0])
    reference = measure_reference(loaded.model, synthetic_logmel(32, 256, 128, seed=0), "probs", draws=1)  # the original alone
    assert reference.noise_floor["probabilities"] > 1e-5  # what a constant 1e-05 gate could not survive


@pytest.mark.parametrize("seed", SEEDS)
def test_fold_passes_on_a_hard_checkpoint_and_reports_the_fold_error_and_the_noise_floor(hard, seed, tmp_path, capsys):
    code = main(["fold", str(hard[seed]), "-o", str(tmp_path / "deploy.pt"), "--json", str(tmp_path / "f.json")])
    out = capsys.readouterr().out
    assert code == 0, out
    report = _json(tmp_path / "f.json")
    exact, rounding = report["chain"]
    assert exact["step"] == "fold, float64" and rounding["step"] == "folded, float32"
    logits = next(m for m in exact["outputs"] if m["name"] == "logits")
    assert logits["max_rel"] < 1e-12  # the fold is exact: float64 rounding and nothing more
    assert set(rounding["noise_floor"]) == {"logits", "probabilities"} and min(rounding["noise_floor"].values()) >= 0
    assert report["verdict"].startswith("the fold is exact") and "the float32 difference is rounding" in report["verdict"]
    assert "noise floor" in out and "the fold is exact" in out


@pytest.mark.parametrize("seed", (0, 1, 4))  # all five, and at VGG-Sound size: benchmarks/results/parity_floor.md
def test_onnx_export_passes_on_a_hard_checkpoint_and_its_inconsistent_cfg_only_warns(hard, seed, tmp_path, capsys):
    code = main(["export", str(hard[seed]), "--target", "onnx", "-o", str(tmp_path), "--json", str(tmp_path / "e.json")])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    warnings = [line for line in captured.err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "CLIP_SECS 5.119" in warnings[0] and "--frontend" in warnings[0], warnings
    manifest = _json(tmp_path / f"small_{seed}.onnx.manifest.json")
    assert manifest["frontend"] is None
    assert manifest["noise_floor"]["probabilities"] > 0 and "noise floor" in manifest["gate_basis"]
    steps = {s["step"]: s for s in _json(tmp_path / "e.json")["chain"]}
    assert steps["ONNX Runtime"]["reference"] == "original PyTorch, float64"
    assert steps["ONNX Runtime"]["noise_floor"] == manifest["noise_floor"]


def test_a_job_that_needs_the_front_end_stops_with_the_cfg_fields_and_the_fix(hard, tmp_path, capsys):
    audio = tmp_path / "audio"
    audio.mkdir()
    from edgeaudio.audio import write_wav

    for i in range(3):
        write_wav(audio / f"{i}.wav", np.sin(np.arange(16000) * 0.05 * (i + 1)) * 0.3, 16000)
    code = main(["export", str(hard[0]), "--target", "tflite", "--int8", "--calib", str(audio), "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2
    assert "CLIP_SECS 5.119" in err and "frames=256" in err and "--frontend PRESET" in err and str(audio) in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_frontend_sets_a_front_end_the_cfg_could_not_and_one_that_does_not_fit_is_refused(tmp_path, capsys):
    # a VGG-Sound-shaped input (512x128) whose cfg says CLIP_SECS 2.0: no front end from the cfg, --frontend sets it
    ckpt = hard_checkpoint(tmp_path / "vgg_like.pyth", "small", 0, clip_secs=2.0, frames=512, width=8)
    code = main(["export", str(ckpt), "--target", "onnx", "--frontend", "vggsound", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 0 and "CLIP_SECS" not in err, err
    assert _json(tmp_path / "o" / "vgg_like.onnx.manifest.json")["frontend"]["clip_seconds"] == 5.119
    code = main(["export", str(ckpt), "--target", "onnx", "--frontend", "epic-sounds", "-o", str(tmp_path / "q")])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and "(1, 416, 128)" in err and "(1, 512, 128)" in err, err


@pytest.mark.parametrize("seed", (3,))
def test_tflite_fp32_and_fp16_pass_on_a_hard_checkpoint_and_verify_reference_agrees(hard, seed, tmp_path, capsys):
    code = main(["export", str(hard[seed]), "--target", "tflite", "--fp16", "-o", str(tmp_path)])
    assert code == 0, capsys.readouterr().out
    for precision in ("fp32", "fp16"):
        model = tmp_path / f"small_{seed}_{precision}.tflite"
        manifest = _json(model.with_name(model.name + ".manifest.json"))
        floor = manifest["noise_floor"]["probabilities"]
        assert manifest["bounds"]["probabilities"]["max_abs"] == pytest.approx(max(4 * floor, 8 * np.finfo(np.float32).eps))
        for extra in ([], ["--reference", str(hard[seed])]):
            code = main(["verify", str(model), "--junit", str(tmp_path / "j.xml"), *extra])
            out = capsys.readouterr().out
            assert code == 0, out
            assert "noise floor" in out
        assert 'name="noise_floor"' in (tmp_path / "j.xml").read_text()


def test_a_cfg_that_claims_35_classes_for_a_10_class_head_folds_with_a_warning(tmp_path, capsys):
    from tests.official_reference import HARD_SIZES, OfficialAudioRepInceptionNeXt, official_cfg_yaml, official_save_checkpoint, realistic_statistics

    torch.manual_seed(0)
    model = realistic_statistics(OfficialAudioRepInceptionNeXt(**HARD_SIZES["small"]), seed=0)
    path = official_save_checkpoint(model, tmp_path / "us8k.pyth", cfg_text=official_cfg_yaml(model, num_classes_in_cfg=[35]), with_optimizer=False)
    code = main(["fold", str(path), "-o", str(tmp_path / "d.pt")])
    captured = capsys.readouterr()
    assert code == 0, captured.out
    assert "num_classes=[35]" in captured.err and "using the weights" in captured.err


# -- real mistakes fail their gates ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hard_model(hard):
    from edgeaudio.checkpoint import load_checkpoint
    from edgeaudio.fold import fold_model
    from edgeaudio.synthetic import synthetic_logmel

    loaded = load_checkpoint(hard[0])
    return loaded.model, fold_model(loaded.model), synthetic_logmel(8, 256, 128, seed=0)


def _rounding_gate(original, folded, inputs):
    from edgeaudio.pipeline.fold import verify_fold

    exact, rounding = verify_fold(original, folded, inputs)
    assert exact.passed  # the float64 fold is the tool's own, and right
    return rounding


def test_the_correct_fold_passes_the_gate_the_mistakes_below_fail(hard_model):
    assert _rounding_gate(*hard_model).passed


@torch.no_grad()
def test_one_mid_network_conv_scaled_by_1_01_fails(hard_model):
    original, folded, inputs = hard_model
    import copy

    broken = copy.deepcopy(folded)
    broken.s4.pathway0_res0.branch2.c.weight.mul_(1.01)
    gate = _rounding_gate(original, broken, inputs)
    assert not gate.passed and any("logits" in f for f in gate.failures)


class _ShiftedPadding(nn.Module):
    """A (21, 1) depthwise conv padded 11 before and 9 after instead of 10 and 10: same shape, shifted in time."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.conv = conv

    def forward(self, x):
        return F.conv2d(F.pad(x, (0, 0, 11, 9)), self.conv.weight, self.conv.bias, groups=self.conv.groups)


@torch.no_grad()
def test_a_wrong_padding_fails(hard_model):
    original, folded, inputs = hard_model
    import copy

    broken = copy.deepcopy(folded)
    transform = broken.s3.pathway0_res1.branch2
    transform.a_reparam = _ShiftedPadding(transform.a_reparam)
    assert not _rounding_gate(original, broken, inputs).passed


@torch.no_grad()
def test_a_swapped_branch_kernel_fails(hard_model):
    original, folded, inputs = hard_model
    import copy

    broken = copy.deepcopy(folded)
    transform = broken.s2.pathway0_res0.branch2  # time and frequency kernels exchanged, as a fold mixing up a/b would
    a, b = transform.a_reparam.weight.clone(), transform.b_reparam.weight.clone()
    transform.a_reparam.weight.copy_(b.transpose(2, 3))
    transform.b_reparam.weight.copy_(a.transpose(2, 3))
    assert not _rounding_gate(original, broken, inputs).passed


def test_a_tampered_onnx_initializer_fails_the_onnx_gate(hard, tmp_path):
    import onnx
    from onnx import numpy_helper

    from edgeaudio.runtime.runner import Runner

    assert main(["export", str(hard[0]), "--target", "onnx", "-o", str(tmp_path)]) == 0
    path = tmp_path / "small_0.onnx"
    manifest = _json(tmp_path / "small_0.onnx.manifest.json")
    with np.load(tmp_path / "small_0.expected.npz") as npz:
        inputs, exact = npz["inputs"], npz["reference/probabilities"]
    bounds = {"probabilities": Bounds(**manifest["bounds"]["probabilities"])}
    clean = check("ONNX Runtime", "float64", {"probabilities": (exact, Runner(path).run(inputs)[0])}, bounds)
    assert clean.passed, clean.failures

    graph = onnx.load(str(path))
    weights = [t for t in graph.graph.initializer if len(t.dims) == 4 and t.dims[0] >= 32]  # a stage-3 conv or later
    target = weights[len(weights) // 2]
    array = numpy_helper.to_array(target).copy()
    array.flat[0] += 0.05 * np.abs(array).max()  # one weight of one conv, nudged
    target.CopyFrom(numpy_helper.from_array(array, target.name))
    tampered = tmp_path / "tampered.onnx"
    onnx.save(graph, str(tampered))
    result = check("ONNX Runtime", "float64", {"probabilities": (exact, Runner(tampered).run(inputs)[0])}, bounds)
    assert not result.passed, compare("p", exact, Runner(tampered).run(inputs)[0]).to_dict()


# -- the int8 verdict -------------------------------------------------------------------------------------


def _rows(agree: int, n: int, classes: int = 4) -> tuple[np.ndarray, np.ndarray]:
    reference = np.tile(np.eye(classes)[0], (n, 1))
    candidate = reference.copy()
    candidate[agree:] = np.eye(classes)[1]
    return reference, candidate


@pytest.mark.parametrize("agree,n,passes", [(64, 64, True), (62, 64, True), (61, 64, True), (58, 64, False), (31, 32, True), (7, 8, False), (48, 64, False)])
def test_int8_agreement_fails_only_when_it_is_below_98_percent_with_95_percent_confidence(agree, n, passes):
    ref, cand = _rows(agree, n)
    result = check("int8", "ref", {"probabilities": (ref, cand)}, Bounds(top1=0.98))
    m = result.outputs[0]
    assert m.samples == n and m.top1_agreeing == agree and m.agreement_low <= m.agreement <= m.agreement_high
    assert result.passed is passes, result.failures
    if not passes:
        assert f"{agree}/{n}" in result.failures[0] and "95% CI" in result.failures[0]


def test_flips_between_classes_the_reference_could_not_tell_apart_are_near_ties_not_disagreements():
    reference = np.tile([0.30, 0.26, 0.24, 0.20], (32, 1))  # undecided: its top two 0.04 apart
    candidate = np.tile([0.27, 0.29, 0.24, 0.20], (32, 1))  # every row flipped between them
    result = check("int8", "ref", {"probabilities": (reference, candidate)}, Bounds(top1=0.98))
    m = result.outputs[0]
    assert m.top1 == 0.0 and m.near_ties == 32 and m.hard_flips == 0 and result.passed
    decided = np.tile([0.70, 0.10, 0.10, 0.10], (32, 1))  # the same flips where the reference was sure fail
    assert not check("int8", "ref", {"probabilities": (decided, candidate)}, Bounds(top1=0.98)).passed


def test_mcnemar_says_a_loss_is_real_only_when_the_differing_samples_say_so():
    from edgeaudio.parity import mcnemar_worse

    assert mcnemar_worse(0, 0) == 1.0 and mcnemar_worse(0, 7) == 1.0
    assert mcnemar_worse(3, 0) == 0.125  # three clips lost, none gained: could be the draw
    assert mcnemar_worse(5, 0) == 1 / 32  # five of five: real at 5%
    assert mcnemar_worse(6, 2) == pytest.approx(37 / 256)
    assert mcnemar_worse(30, 10) < 0.002 < mcnemar_worse(10, 30)


def test_a_draw_of_the_first_samples_is_measured_at_the_scale_of_all_of_them():
    """The jittered draws run on the first samples only (reference.JITTERED_SAMPLES); their relative error is taken
    against the scale every step is judged at, so a few small samples cannot loosen the floor."""
    from edgeaudio.pipeline.gates import noise_floor

    exact = np.array([[1.0, -2.0], [0.5, 0.25], [10.0, -40.0]])
    draw = exact.copy()
    draw[0, 1] += 1e-6  # the largest error falls on the first sample, whose own scale is 2, not 40
    whole = noise_floor({"logits": exact, "probabilities": exact}, {"logits": draw, "probabilities": draw})
    first = noise_floor({"logits": exact, "probabilities": exact}, {"logits": draw[:2], "probabilities": draw[:2]})
    assert first["logits"] == pytest.approx(1e-6 / 40) == whole["logits"]  # not 1e-6 / 2
    assert first["probabilities"] == pytest.approx(1e-6) == whole["probabilities"]
    draw[2, 0] += 1e-5  # beyond the first samples: the whole draw sees it, a draw of the first two cannot
    assert noise_floor({"logits": exact}, {"logits": draw[:2]})["logits"] < noise_floor({"logits": exact}, {"logits": draw})["logits"]
