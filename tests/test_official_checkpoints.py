"""Checkpoints written the official way by code that is not edgeaudio's load strictly, fold, and keep their outputs."""

from __future__ import annotations

import torch

from edgeaudio.checkpoint import load_checkpoint
from edgeaudio.fold import fold_model
from edgeaudio.pipeline.fold import fold_checkpoint
from tests.official_reference import (
    OfficialAudioRepInceptionNeXt,
    official_cfg_yaml,
    official_save_checkpoint,
    scramble_batchnorm,
)

SMALL = dict(classes=(10,), frames=128, mels=64, width=8)  # official depths (3, 4, 6, 3), narrow


def _official(mode="train", seed=0, **kw):
    torch.manual_seed(seed)
    model = OfficialAudioRepInceptionNeXt(mode=mode, **{**SMALL, **kw}).eval()
    scramble_batchnorm(model, seed)
    return model


def _spectrograms(n, frames=128, mels=64, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.log(torch.rand(n, 1, frames, mels, generator=g) ** 2 * 10 + 1e-6)


@torch.no_grad()
def test_training_form_loads_strictly_and_folds_to_the_same_probabilities(tmp_path):
    ref = _official("train")
    path = official_save_checkpoint(ref, tmp_path / "checkpoint_epoch_00030.pyth")
    loaded = load_checkpoint(path)
    assert (loaded.container, loaded.form, loaded.epoch) == ("official", "training", 29)
    assert loaded.warnings == []
    assert set(loaded.model.state_dict()) == set(torch.load(path, weights_only=True)["model_state"])
    x = _spectrograms(6)
    expected = ref([x])
    assert torch.allclose(loaded.model(x), expected, atol=1e-6, rtol=0)
    folded = fold_model(loaded.model)
    assert (folded(x) - expected).abs().max().item() < 1e-5


@torch.no_grad()
def test_merged_form_loads_strictly_and_computes_with_the_reparam_weights(tmp_path):
    ref = _official("merge", seed=3)
    ref.merge_kernel()
    path = official_save_checkpoint(ref, tmp_path / "checkpoint_best.pyth")
    loaded = load_checkpoint(path)
    assert loaded.form == "merged"
    assert loaded.warnings == []  # the stored reparam weights agree with the branches
    x = _spectrograms(4, seed=5)
    expected = ref([x])
    assert (loaded.model(x) - expected).abs().max().item() < 1e-6
    assert (fold_model(loaded.model)(x) - expected).abs().max().item() < 1e-5


@torch.no_grad()
def test_merged_form_whose_copies_disagree_is_loaded_with_a_warning(tmp_path):
    ref = _official("merge", seed=4)
    ref.merge_kernel()
    ref.s3.pathway0_res0.branch2.a_reparam.bias.data += 0.5
    loaded = load_checkpoint(official_save_checkpoint(ref, tmp_path / "m.pyth"))
    assert any("differ from the fold of the stored branches" in w for w in loaded.warnings)
    x = _spectrograms(2)
    assert (loaded.model(x) - ref([x])).abs().max().item() < 1e-6  # it follows the stored reparam, as official


@torch.no_grad()
def test_inference_form_loads_strictly_and_folds_the_identity_too(tmp_path):
    train = _official("train", seed=7)
    merged = _official("merge", seed=7)
    merged.load_state_dict(train.state_dict(), strict=False)
    merged.merge_kernel()
    inference = _official("inference", seed=7)
    inference.load_state_dict({k: v for k, v in merged.state_dict().items() if k in inference.state_dict()})
    path = official_save_checkpoint(inference, tmp_path / "inference.pyth", with_optimizer=False)
    loaded = load_checkpoint(path)
    assert loaded.form == "inference"
    x = _spectrograms(4, seed=9)
    expected = train([x])
    assert (inference([x]) - expected).abs().max().item() < 1e-5
    folded = fold_model(loaded.model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert (folded(x) - expected).abs().max().item() < 1e-5


@torch.no_grad()
def test_epic_kitchens_two_heads_load_and_fold(tmp_path):
    ref = _official("train", seed=11, classes=(7, 12))
    loaded = load_checkpoint(official_save_checkpoint(ref, tmp_path / "epic.pyth"))
    assert loaded.config.num_classes == (7, 12)
    x = _spectrograms(3)
    verb, noun = ref([x])
    f_verb, f_noun = fold_model(loaded.model)(x)
    assert (f_verb - verb).abs().max().item() < 1e-5 and (f_noun - noun).abs().max().item() < 1e-5


def test_vggsound_sized_training_checkpoint_has_890_keys_and_loads(tmp_path):
    ref = OfficialAudioRepInceptionNeXt().eval()
    path = official_save_checkpoint(ref, tmp_path / "vgg.pyth", with_optimizer=False)
    state = torch.load(path, weights_only=True)["model_state"]
    assert len(state) == 890
    loaded = load_checkpoint(path)
    assert loaded.config.num_classes == (309,) and (loaded.config.frames, loaded.config.mels) == (512, 128)
    assert sum(p.numel() for p in loaded.model.parameters()) == 11_834_869


def test_a_cfg_that_miscounts_the_classes_loses_to_the_head_shape_with_a_warning(tmp_path):
    """The official UrbanSound8K config claims 35 classes for a 10-class head."""
    ref = _official("train")
    path = official_save_checkpoint(ref, tmp_path / "us8k.pyth", cfg_text=official_cfg_yaml(ref, num_classes_in_cfg=[35]))
    loaded = load_checkpoint(path)
    assert loaded.config.num_classes == (10,)
    assert any("num_classes=[35]" in w and "[10]" in w for w in loaded.warnings)


def test_frames_and_strides_come_from_the_cfg(tmp_path):
    ref = _official("train", frames=96, tstrides=(1, 2, 2, 1))
    loaded = load_checkpoint(official_save_checkpoint(ref, tmp_path / "t.pyth"))
    assert loaded.config.frames == 96 and loaded.config.time_strides == (1, 2, 2, 1)
    x = _spectrograms(2, frames=96)
    assert (loaded.model(x) - ref([x])).abs().max().item() < 1e-6


@torch.no_grad()
def test_bare_and_ddp_state_dicts_load_with_the_architecture_read_from_shapes(tmp_path):
    ref = _official("train", seed=2, depths=(1, 2, 1, 1))
    torch.save(ref.state_dict(), tmp_path / "bare.pt")
    torch.save({f"module.{k}": v for k, v in ref.state_dict().items()}, tmp_path / "ddp.pt")
    x = _spectrograms(2)
    for name, container in (("bare.pt", "state_dict"), ("ddp.pt", "ddp_state_dict")):
        loaded = load_checkpoint(tmp_path / name, overrides={"frames": 128, "mels": 64})
        assert loaded.container == container
        assert loaded.config.width == 8 and loaded.config.depths == (1, 2, 1, 1)
        assert (loaded.model(x) - ref([x])).abs().max().item() < 1e-6


def test_a_bare_state_dict_without_input_size_warns_what_it_assumed(tmp_path):
    torch.save(_official("train").state_dict(), tmp_path / "bare.pt")
    loaded = load_checkpoint(tmp_path / "bare.pt")
    assert (loaded.config.frames, loaded.config.mels) == (512, 128)
    assert any("assuming frames=512, mels=128" in w for w in loaded.warnings)
    told = load_checkpoint(tmp_path / "bare.pt", overrides={"frames": 128, "mels": 64})
    assert not any("assuming" in w for w in told.warnings)


def test_fold_checkpoint_writes_a_deploy_file_that_loads_back_as_the_folded_model(tmp_path):
    ref = _official("train", seed=5)
    src = official_save_checkpoint(ref, tmp_path / "c.pyth")
    result = fold_checkpoint(src, tmp_path / "deploy.pt", samples=4)
    assert result.passed and [s.step for s in result.chain] == ["fold, float64", "folded, float32"]
    deploy = load_checkpoint(tmp_path / "deploy.pt")
    assert (deploy.container, deploy.form) == ("edgeaudio", "folded")
    assert deploy.meta["source"]["sha256"] == result.source_sha256
    assert not any(k.endswith(("_bn.weight", ".bn.weight")) for k in deploy.model.state_dict())
    x = _spectrograms(3)
    with torch.no_grad():
        assert (deploy.model(x) - ref([x])).abs().max().item() < 1e-5
