"""The auditory Slow-Fast baseline: official counts, official checkpoints load strictly, the fold keeps outputs,
a trained model exports to full int8 that passes every parity gate."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import yaml

from edgeaudio.checkpoint import load_checkpoint
from edgeaudio.fold import fold_model
from edgeaudio.models import get_spec
from edgeaudio.models.audiorepinceptionnext.blocks import randomize_batchnorm
from edgeaudio.pipeline.info import info_for_arch

SPEC = get_spec("slowfast")
# 1 s clips, official features at 25/10 ms, 64 mels, 96 frames (a multiple of 4 * alpha): small enough to train here.
EVENTS_AUDIO = {"SAMPLING_RATE": 16000, "WINDOW_LENGTH": 25, "HOP_LENGTH": 10, "CLIP_SECS": 0.951}


def test_vggsound_counts_match_the_official_figures():
    forms = {f.form: f.counts for f in info_for_arch("slowfast", preset="vggsound").forms}
    assert forms["training"].params == 26_679_453
    assert round(forms["training"].macs / 1e9, 2) == 5.52
    assert round(forms["training"].fvcore_total / 1e9, 2) == 5.55
    assert len(SPEC.build(SPEC.config("vggsound")).state_dict()) == 662


@pytest.mark.parametrize("fields, says", [
    ({"fast_kernels": (4, 3, 3, 3, 3)}, "odd time kernels"),
    ({"slow_kernels": (1, 1, 3, 3)}, "five odd time kernels"),
    ({"fusion_kernel": 6}, "fusion_kernel must be odd"),
    ({"head_act": "relu"}, "head_act must be softmax or sigmoid"),
])
def test_configs_the_network_cannot_build_are_config_errors(fields, says):
    from edgeaudio.errors import ConfigError

    with pytest.raises(ConfigError, match=says):
        SPEC.config("vggsound", **fields)


def test_the_slow_pathway_takes_the_official_linspace_frames():
    model = SPEC.build(SPEC.config("vggsound"))
    fast = torch.arange(512, dtype=torch.float32).reshape(1, 1, 512, 1).expand(1, 1, 512, 128)
    frames = model.slow_frames(fast)[0, 0, :, 0].long().tolist()
    assert len(frames) == 128 and frames[:3] == [0, 4, 8] and frames[-1] == 511
    assert frames == [511 * k // 127 for k in range(128)]  # not every 4th frame: linspace truncated


def _official_checkpoint(path, model, cfg_frames, audio=None):
    """The dict the official save_checkpoint writes, with a cfg like configs/VGG-Sound/SLOWFAST_R50.yaml (classes,
    mels and width from `model`, AUDIO_DATA feature settings overridden by `audio`)."""
    cfg = {
        "DATA": {"INPUT_CHANNEL_NUM": [1, 1]},
        "AUDIO_DATA": {"SAMPLING_RATE": 16000, "CLIP_SECS": 5.119, "NUM_FRAMES": cfg_frames, "NUM_FREQUENCIES": model.config.mels,
                       "WINDOW_LENGTH": 20, "HOP_LENGTH": 10, **(audio or {})},
        "SLOWFAST": {"ALPHA": 4, "BETA_INV": 8, "FUSION_CONV_CHANNEL_RATIO": 2, "FUSION_KERNEL_SZ": 7},
        "RESNET": {"ZERO_INIT_FINAL_BN": True, "WIDTH_PER_GROUP": model.config.width, "NUM_GROUPS": 1, "DEPTH": 50,
                   "TRANS_FUNC": "bottleneck_transform", "STRIDE_1X1": False,
                   "NUM_BLOCK_TEMP_KERNEL": [[3, 3], [4, 4], [6, 6], [3, 3]],
                   "FREQUENCY_STRIDES": [[1, 1], [2, 2], [2, 2], [2, 2]], "FREQUENCY_DILATIONS": [[1, 1]] * 4},
        "MODEL": {"NUM_CLASSES": list(model.config.num_classes), "ARCH": "slowfast", "MODEL_NAME": "SlowFast", "DROPOUT_RATE": 0.5},
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


def _events(per_class: int, seed: int, frontend) -> tuple[np.ndarray, np.ndarray]:
    """The first model window of each synthetic sound-event clip, through the numpy front end: (x, labels)."""
    from edgeaudio.datasets.events import make_events
    from edgeaudio.frontend import clip_to_model_inputs

    waves, labels = make_events(per_class, 16000, 0.95, seed=seed)
    return np.concatenate([clip_to_model_inputs(w, frontend)[:1] for w in waves]), labels


@pytest.mark.slow
def test_a_trained_slowfast_exports_to_full_int8_that_passes_every_parity_gate(tmp_path):
    """Trained to confident outputs (an untrained network's flat outputs say nothing about int8), saved in the
    official format, exported to full int8 calibrated on fresh clips: every step gated against the original."""
    from edgeaudio.datasets.events import CLASSES
    from edgeaudio.frontend import official_frontend
    from edgeaudio.pipeline.export import ExportOptions, export_checkpoint
    from edgeaudio.runtime.tflite import TFLiteModel
    from edgeaudio.training import train_classifier

    audio = EVENTS_AUDIO
    frontend = official_frontend(audio["SAMPLING_RATE"], audio["WINDOW_LENGTH"], audio["HOP_LENGTH"], audio["CLIP_SECS"], 96, n_mels=64)
    x, labels = _events(48, seed=0, frontend=frontend)
    torch.manual_seed(0)  # the initial weights too must not depend on which tests ran first
    model = SPEC.build(SPEC.config(num_classes=(len(CLASSES),), frames=96, mels=64, width=16, depths=(1, 1, 1, 1), dropout=0.1))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: the same weights on every run, so the int8 gate sees the same model
    try:
        train_classifier(model, x, labels, epochs=20, lr=1e-2, seed=0)
    finally:
        torch.set_num_threads(threads)
    checkpoint = _official_checkpoint(tmp_path / "checkpoint_best.pyth", model.eval(), 96, EVENTS_AUDIO)
    calib = tmp_path / "calib.npy"
    np.save(calib, _events(64, seed=5, frontend=frontend)[0])  # 512 fresh clips: 410 calibrate, 102 judge

    result = export_checkpoint(checkpoint, tmp_path / "out", ExportOptions(target="tflite", precision="int8", calib=str(calib)))

    assert [s.step for s in result.chain] == ["fold, float64", "PyTorch folded", "ONNX Runtime", "TFLite fp32", "TFLite int8"]
    assert all(s.passed for s in result.chain) and result.data["held_out_samples"] == 102
    assert all(s.outputs[0].max_abs < 1e-5 for s in result.chain[:4])  # the export form's rewrites are exact
    int8 = result.chain[-1].outputs[0]
    assert int8.top1 >= 0.98 and int8.cosine >= 0.99
    tflite = TFLiteModel(next(m.path for m in result.models if m.precision == "int8"))
    ops = tflite.ops()
    assert not any(op.startswith("Flex") or op == "CUSTOM" for op in ops)
    assert not {"TRANSPOSE", "QUANTIZE", "DEQUANTIZE"} & set(ops)  # layout settled at the input, int8 end to end
    assert ops[0] == "GATHER" and ops[-4:] == ["MEAN", "CONCATENATION", "FULLY_CONNECTED", "SOFTMAX"]
    tensors = tflite.interpreter.get_tensor_details()
    assert {np.dtype(t["dtype"]).name for t in tensors} <= {"int8", "int32", "int64"}  # int32 biases, gather indices
    gather = next(op for op in tflite.interpreter._get_ops_details() if op["op_name"] == "GATHER")
    frames = tflite.interpreter.get_tensor(gather["inputs"][1]).tolist()
    assert frames == [95 * k // 23 for k in range(24)]  # the official linspace slow frames, gathered exactly
