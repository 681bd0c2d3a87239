"""The auditory Slow-Fast baseline: official counts, official checkpoints load strictly, the fold keeps outputs."""

from __future__ import annotations

import copy

import torch
import yaml

from edgeaudio.checkpoint import load_checkpoint
from edgeaudio.fold import fold_model
from edgeaudio.models import get_spec
from edgeaudio.models.audiorepinceptionnext.blocks import randomize_batchnorm
from edgeaudio.pipeline.info import info_for_arch

SPEC = get_spec("slowfast")


def test_vggsound_counts_match_the_official_figures():
    forms = {f.form: f.counts for f in info_for_arch("slowfast", preset="vggsound").forms}
    assert forms["training"].params == 26_679_453
    assert round(forms["training"].macs / 1e9, 2) == 5.52
    assert round(forms["training"].fvcore_total / 1e9, 2) == 5.55
    assert len(SPEC.build(SPEC.config("vggsound")).state_dict()) == 662


def test_the_slow_pathway_takes_the_official_linspace_frames():
    model = SPEC.build(SPEC.config("vggsound"))
    fast = torch.arange(512, dtype=torch.float32).reshape(1, 1, 512, 1).expand(1, 1, 512, 128)
    frames = model.slow_frames(fast)[0, 0, :, 0].long().tolist()
    assert len(frames) == 128 and frames[:3] == [0, 4, 8] and frames[-1] == 511
    assert frames == [511 * k // 127 for k in range(128)]  # not every 4th frame: linspace truncated


def _official_checkpoint(path, model, cfg_frames):
    """The dict the official save_checkpoint writes, with a cfg like configs/VGG-Sound/SLOWFAST_R50.yaml."""
    cfg = {
        "DATA": {"INPUT_CHANNEL_NUM": [1, 1]},
        "AUDIO_DATA": {"SAMPLING_RATE": 16000, "CLIP_SECS": 5.119, "NUM_FRAMES": cfg_frames, "NUM_FREQUENCIES": 64,
                       "WINDOW_LENGTH": 20, "HOP_LENGTH": 10},
        "SLOWFAST": {"ALPHA": 4, "BETA_INV": 8, "FUSION_CONV_CHANNEL_RATIO": 2, "FUSION_KERNEL_SZ": 7},
        "RESNET": {"ZERO_INIT_FINAL_BN": True, "WIDTH_PER_GROUP": 16, "NUM_GROUPS": 1, "DEPTH": 50,
                   "TRANS_FUNC": "bottleneck_transform", "STRIDE_1X1": False,
                   "NUM_BLOCK_TEMP_KERNEL": [[3, 3], [4, 4], [6, 6], [3, 3]],
                   "FREQUENCY_STRIDES": [[1, 1], [2, 2], [2, 2], [2, 2]], "FREQUENCY_DILATIONS": [[1, 1]] * 4},
        "MODEL": {"NUM_CLASSES": [12], "ARCH": "slowfast", "MODEL_NAME": "SlowFast", "DROPOUT_RATE": 0.5},
    }
    torch.save({"epoch": 3, "model_state": copy.deepcopy(model.state_dict()), "optimizer_state": None,
                "cfg": yaml.safe_dump(cfg)}, path)
    return path


@torch.no_grad()
def test_an_official_checkpoint_loads_strictly_and_folds_to_the_same_probabilities(tmp_path):
    torch.manual_seed(0)
    model = SPEC.build(SPEC.config(num_classes=(12,), frames=128, mels=64, width=16)).eval()
    randomize_batchnorm(model, torch.Generator().manual_seed(1))
    loaded = load_checkpoint(_official_checkpoint(tmp_path / "checkpoint_best.pyth", model, 128))
    assert (loaded.spec.name, loaded.form, loaded.container, loaded.warnings) == ("slowfast", "training", "official", [])
    assert (loaded.config.alpha, loaded.config.frames, loaded.config.width, loaded.config.num_classes) == (4, 128, 16, (12,))
    x = torch.log(torch.rand(3, 1, 128, 64) ** 2 + 1e-6)
    expected = model(x)
    assert torch.equal(loaded.model(x), expected)
    assert torch.equal(loaded.model([model.slow_frames(x), x]), expected)  # the official [slow, fast] input
    folded = fold_model(loaded.model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert (folded(x) - expected).abs().max().item() < 1e-5
