"""The fold: exact kernel arithmetic, and folded models equal to their originals over many configurations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from edgeaudio.fold import fold_model
from edgeaudio.fold.kernels import fuse_modules, identity_kernel, merge_parallel, pad_kernel
from edgeaudio.models import get_spec
from edgeaudio.models.audiorepinceptionnext.blocks import randomize_batchnorm
from edgeaudio.parity import compare
from edgeaudio.pipeline.fold import verify_fold
from edgeaudio.synthetic import synthetic_logmel

SPEC = get_spec("audiorepinceptionnext")


@torch.no_grad()
def test_conv_then_eval_batchnorm_equals_the_fused_conv():
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 6, (7, 1), padding=(3, 0), groups=6, bias=False)
    bn = nn.BatchNorm2d(6, eps=1e-5).eval()
    randomize_batchnorm(bn, torch.Generator().manual_seed(1))
    x = torch.randn(2, 6, 30, 9)
    weight, bias = fuse_modules(conv, bn)
    fused = F.conv2d(x, weight, bias, padding=(3, 0), groups=6)
    assert (fused - bn(conv(x))).abs().max().item() < 1e-5


@torch.no_grad()
def test_parallel_odd_kernels_merge_into_the_largest_and_the_identity_is_the_centre_tap():
    torch.manual_seed(0)
    x = torch.randn(1, 4, 40, 5)
    branches = [(torch.randn(4, 1, k, 1), torch.randn(4)) for k in (9, 5, 1)]
    summed = sum(F.conv2d(x, w, b, padding=(w.shape[2] // 2, 0), groups=4) for w, b in branches) + x
    weight, bias = merge_parallel(branches, (9, 1))
    weight = weight + identity_kernel(4, (9, 1), weight)
    assert (F.conv2d(x, weight, bias, padding=(4, 0), groups=4) - summed).abs().max().item() < 1e-5


def test_pad_kernel_refuses_a_kernel_that_cannot_be_centred():
    with pytest.raises(ValueError):
        pad_kernel(torch.zeros(1, 1, 4, 1), (9, 1))
    assert pad_kernel(torch.ones(2, 1, 3, 1), (7, 1))[:, :, 2:5].sum().item() == 6


def test_fold_works_in_eval_mode_even_when_the_model_is_in_training_mode():
    """The classic 'outputs differ after reparam' is a fold with batch statistics; fold_model cannot do that."""
    model = SPEC.build(SPEC.config(num_classes=(5,), frames=64, mels=32, width=4, depths=(1, 1, 1, 1)))
    randomize_batchnorm(model, torch.Generator().manual_seed(0))
    model.train()
    folded = fold_model(model)
    assert model.training and not folded.training
    inputs = synthetic_logmel(4, 64, 32, seed=3)
    chain = verify_fold(model, folded, inputs)
    assert all(step.passed for step in chain), [step.failures for step in chain]
    assert model.training  # checking parity runs in eval mode but leaves the caller's model as it was


kernel_sets = st.sampled_from([(21, 11, 3), (7, 5, 3), (9, 3, 1), (5, 5, 5), (3, 3, 1), (11, 7, 3)])


@st.composite
def configs(draw):
    time_strides = tuple(draw(st.sampled_from([1, 2])) for _ in range(4))
    # the head pools mels/32 frequency positions (the official rule), so at most three stages halve frequency
    freq_strides = tuple(draw(st.sampled_from([1, 2])) for _ in range(3)) + (1,)
    frames = 4 * int(np.prod(time_strides)) * draw(st.integers(1, 3)) + draw(st.integers(0, 3))
    mels = draw(st.sampled_from([32, 40, 64]))
    return SPEC.config(
        num_classes=draw(st.sampled_from([(3,), (7,), (4, 6)])),
        frames=max(frames, 8),
        mels=mels,
        width=draw(st.sampled_from([2, 4, 6, 8])),
        depths=tuple(draw(st.integers(1, 2)) for _ in range(4)),
        time_strides=time_strides,
        freq_strides=freq_strides,
        time_kernels=(draw(kernel_sets),) * 4,
        freq_kernels=tuple(draw(kernel_sets) for _ in range(4)),
        stem_kernel=draw(st.sampled_from([(5, 7), (3, 3), (7, 5)])),
    )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs(), seed=st.integers(0, 2**16))
def test_the_fold_is_exact_in_float64_and_within_float32_noise_in_float32(config, seed):
    torch.manual_seed(seed)
    model = SPEC.build(config, "training").eval()
    randomize_batchnorm(model, torch.Generator().manual_seed(seed))
    for block in model.blocks():  # d_bn is zero-initialised in training; make sure it is not here
        assert block.branch2.d_bn.weight.abs().min().item() > 0
    folded = fold_model(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    inputs = synthetic_logmel(3, config.frames, config.mels, seed=seed)
    exact, rounding = verify_fold(model, folded, inputs)
    logits = [m for m in exact.outputs if m.name.endswith("logits")]
    assert all(m.max_rel < 1e-12 for m in logits), [m.to_dict() for m in logits]  # float64 rounding, nothing more
    assert exact.passed and rounding.passed, exact.failures + rounding.failures
    assert set(rounding.noise_floor) == {m.name for m in rounding.outputs}


@torch.no_grad()
def test_a_folded_block_is_one_depthwise_conv_per_axis_with_no_identity_add():
    model = SPEC.build(SPEC.config(num_classes=(3,), frames=64, mels=32, width=4, depths=(1, 1, 1, 1)))
    randomize_batchnorm(model, torch.Generator().manual_seed(0))
    folded = fold_model(model)
    transform = folded.s2.pathway0_res0.branch2
    assert transform.form == "folded"
    names = {n for n, _ in transform.named_children()}
    assert {"a_reparam", "b_reparam"} <= names and not names & {"a", "a_medium", "a_small", "a_bn", "a_head_bn"}
    # The identity sits in the centre tap: with every other tap zeroed, the conv is x * (1 + w_centre) + b.
    original = model.s2.pathway0_res0.branch2
    w, b = original.cascade_equivalent("a")
    centre = w[:, 0, w.shape[2] // 2, 0]
    branch_w, _ = original.branches_equivalent("a")
    assert torch.allclose(centre, branch_w[:, 0, w.shape[2] // 2, 0] + 1.0)


def test_folding_a_folded_model_changes_nothing():
    model = SPEC.build(SPEC.config(num_classes=(3,), frames=64, mels=32, width=4, depths=(1, 1, 1, 1)))
    randomize_batchnorm(model, torch.Generator().manual_seed(2))
    once = fold_model(model)
    twice = fold_model(once)
    x = synthetic_logmel(2, 64, 32)
    with torch.no_grad():
        a, b = once(torch.from_numpy(x)), twice(torch.from_numpy(x))
    assert compare("probs", a.numpy(), b.numpy()).max_abs == 0.0


def test_a_float64_model_folds_in_float64_with_every_folded_module_in_float64():
    model = SPEC.build(SPEC.config(num_classes=(3,), frames=64, mels=32, width=4, depths=(1, 1, 1, 1)))
    randomize_batchnorm(model, torch.Generator().manual_seed(4))
    model = model.double().eval()
    folded = fold_model(model)
    assert {t.dtype for t in [*folded.parameters(), *folded.buffers()] if t.is_floating_point()} == {torch.float64}
    x = torch.from_numpy(synthetic_logmel(2, 64, 32).astype(np.float64))
    with torch.no_grad():
        model.set_output("logits"), folded.set_output("logits")
        a, b = model(x), folded(x)
    assert ((a - b).abs().max() / a.abs().max()).item() < 1e-13


def test_cross_layer_equalization_is_exact_and_equalizes_every_pair(tmp_path):
    """On an official-format checkpoint with realistic statistics: the equalized folded model computes what the folded
    one does (float64: rounding only), and after it each pair's ranges agree channel by channel."""
    from tests.official_reference import hard_checkpoint

    from edgeaudio.checkpoint import load_checkpoint
    from edgeaudio.fold.equalize import equalize_model, input_ranges, output_ranges

    loaded = load_checkpoint(hard_checkpoint(tmp_path / "hard.pyth", "small", 1))
    folded = fold_model(loaded.model).double()
    x = torch.from_numpy(synthetic_logmel(4, 256, 128, seed=2)).double()
    with torch.no_grad():
        before = folded.set_output("logits")(x)
        equalized = equalize_model(fold_model(loaded.model).double(), rounds=8).set_output("logits")
        after = equalized(x)
    assert (after - before).abs().max() <= 1e-12 * before.abs().max()
    branch = equalized.s3.pathway0_res1.branch2
    for first, second in ((branch.a_head, branch.c), (branch.c, branch.d)):
        ratio = output_ranges(first) / input_ranges(second)
        assert torch.allclose(ratio, torch.ones_like(ratio), atol=0.05), ratio  # the fixed point of the iteration
    spread = lambda conv: float(output_ranges(conv).max() / output_ranges(conv).min())  # noqa: E731
    assert spread(branch.a_head) < spread(fold_model(loaded.model).s3.pathway0_res1.branch2.a_head)
    with pytest.raises(ValueError, match="fold the model first"):
        equalize_model(torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1)))
