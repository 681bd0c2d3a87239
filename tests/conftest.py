"""Shared fixtures: a small AudioRepInceptionNeXt trained on synthetic sound events, so exported models have
realistic, peaked outputs and activation statistics (an untrained network's flat outputs say nothing about int8).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

# 16 kHz, 25 ms / 10 ms, 64 HTK mels, 96-frame windows: a small input the tests can afford.
SMALL_FRONTEND = dict(
    kind="official_logmel", sample_rate=16000, n_fft=512, win_length=400, hop_length=160, n_mels=64, fmin=0.0,
    fmax=8000.0, mel_scale="htk", log_offset=1e-6, center=True, pad_mode="constant", frames=96,
    window_hop_frames=96, clip_seconds=0.951, clip_pad="edge_frames",
)


@dataclass
class TrainedModel:
    checkpoint: Path  # edgeaudio checkpoint with labels and front end recorded
    official: Path  # the same weights in the official format
    calib_npy: Path  # (N, 1, 96, 64) spectrograms of fresh clips
    audio_dir: Path  # WAV clips of the same classes
    held_out_accuracy: float


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> TrainedModel:
    import torch

    from edgeaudio.checkpoint import save_edgeaudio, save_official
    from edgeaudio.datasets.events import CLASSES, make_events, write_events
    from edgeaudio.frontend import FrontendConfig, clip_to_model_inputs
    from edgeaudio.models import get_spec
    from edgeaudio.training import train_classifier

    root = tmp_path_factory.mktemp("trained")
    frontend = FrontendConfig(**SMALL_FRONTEND)
    waves, labels = make_events(80, 16000, 0.95, seed=0)
    x = np.concatenate([clip_to_model_inputs(w, frontend)[:1] for w in waves])
    train = np.arange(len(x)) % 5 != 4
    spec = get_spec("audiorepinceptionnext")
    model = spec.build(spec.config(num_classes=(len(CLASSES),), frames=96, mels=64, width=16, depths=(1, 1, 1, 1), dropout=0.1))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: the same weights on every run, so the int8 gate sees the same model
    try:
        train_classifier(model, x[train], labels[train], epochs=30, lr=1e-2, seed=0)
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        accuracy = float((model(torch.from_numpy(x[~train])).argmax(1).numpy() == labels[~train]).mean())
    checkpoint = save_edgeaudio(model, root / "events.pt", {"labels": list(CLASSES), "frontend": frontend.to_dict()})
    official = save_official(model, root / "checkpoint_best.pyth", epoch=24)
    fresh, _ = make_events(60, 16000, 0.95, seed=5)  # 96 held out: one near-tie flip is still >= 98%
    calib = root / "calib.npy"
    np.save(calib, np.concatenate([clip_to_model_inputs(w, frontend)[:1] for w in fresh]))
    audio_dir = root / "audio"
    write_events(audio_dir, 10, 16000, 0.95, seed=9)
    return TrainedModel(checkpoint, official, calib, audio_dir, accuracy)


@pytest.fixture(scope="session")
def exported(trained, tmp_path_factory):
    """One export per target, shared by the tests that only read the results."""
    from edgeaudio.cli import main

    out = tmp_path_factory.mktemp("exports")
    runs = {
        "onnx": ["--target", "onnx", "--dynamic-batch"],
        "fp16": ["--target", "tflite", "--fp16"],
        "int8": ["--target", "tflite", "--int8", "--calib", str(trained.calib_npy)],
    }
    codes = {}
    for name, args in runs.items():
        codes[name] = main(["export", str(trained.checkpoint), "-o", str(out / name), "--json", str(out / f"{name}.json"), *args])
    return out, codes
