"""Shared fixtures: a small AudioRepInceptionNeXt trained on synthetic sound events, so exported models have
realistic, peaked outputs and activation statistics (an untrained network's flat outputs say nothing about int8).
"""

from __future__ import annotations

import os

# Before any test module imports torch: two test workers on two cores make OpenMP contention certain, and spinning
# waiters made the float64 reference up to 85 x slower. Only here: on an idle machine sleeping waiters cost
# PyTorch 2.5 x (VGG-size float64 forward, batch 8: 5.7 s against 2.3 s), so the CLI leaves OpenMP's default.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from dataclasses import dataclass  # noqa: E402
from pathlib import Path

import numpy as np
import pytest

# The official feature recipe (n_fft 2048, HTK mels, log(mel + 1e-6)) at 16 kHz, 25/10 ms, 64 mels, 96 frames:
# a small input the tests can afford, and one an official cfg's AUDIO_DATA can state.
SMALL_FRONTEND = dict(sample_rate=16000, window_ms=25, hop_ms=10, clip_seconds=0.951, frames=96, n_mels=64)


@dataclass
class TrainedModel:
    checkpoint: Path  # edgeaudio checkpoint with labels and front end recorded
    official: Path  # the same weights in the official format, its cfg stating the feature settings
    labels: Path  # labels.txt, one class per line
    calib_npy: Path  # (N, 1, 96, 64) spectrograms of fresh clips
    audio_dir: Path  # WAV clips of the same classes
    held_out_accuracy: float


def train_events(seed: int = 0, per_class: int = 80, epochs: int = 40):
    """A small AudioRepInceptionNeXt trained on synthetic sound events (SMALL_FRONTEND features): (model, front
    end, held-out accuracy). Deterministic for a seed: the same weights on every run, so an int8 gate sees the
    same model."""
    import torch

    from edgeaudio.datasets.events import CLASSES, make_events
    from edgeaudio.frontend import clip_to_model_inputs, official_frontend
    from edgeaudio.models import get_spec
    from edgeaudio.training import train_classifier

    frontend = official_frontend(**SMALL_FRONTEND)
    waves, labels = make_events(per_class, 16000, 0.95, seed=seed)
    x = np.concatenate([clip_to_model_inputs(w, frontend)[:1] for w in waves])
    train = np.arange(len(x)) % 5 != 4
    spec = get_spec("audiorepinceptionnext")
    torch.manual_seed(seed)  # the initial weights too must not depend on which tests ran first
    model = spec.build(spec.config(num_classes=(len(CLASSES),), frames=96, mels=64, width=16, depths=(1, 1, 1, 1), dropout=0.1))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: the same weights on every run
    try:
        train_classifier(model, x[train], labels[train], epochs=epochs, lr=1e-2, seed=seed)
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        accuracy = float((model.eval()(torch.from_numpy(x[~train])).argmax(1).numpy() == labels[~train]).mean())
    return model, frontend, accuracy


def wrong_calibration(real: np.ndarray, seed: int = 0) -> np.ndarray:
    """A calibration .npy's rows where the rows export holds out (every fifth) are `real` model inputs and the
    rows it calibrates on are unit-scale noise, not log-mels (-14 to +5): int8 ranges of the wrong distribution,
    judged on the right one."""
    held = len(real)
    out = np.random.default_rng(seed).standard_normal((5 * held, *real.shape[1:])).astype(np.float32) * 0.5
    out[4::5] = real
    return out


def shared(tmp_path_factory, name: str, build, encode=lambda value: value, decode=lambda data: data):
    """A session value built once per test run, however many xdist workers ask for it: the first to ask builds it
    into a folder under the run's shared temporary root (holding a file lock), the others wait and read what it
    recorded. `build(folder)` returns the value; `encode`/`decode` turn it into JSON and back."""
    import json

    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # each worker has its own basetemp under the run's common one
        root = root.parent
    folder = root / f"shared-{name}"
    record = folder / "value.json"
    with FileLock(str(folder) + ".lock"):
        if record.exists():
            return decode(json.loads(record.read_text()))
        folder.mkdir(exist_ok=True)
        value = build(folder)
        record.write_text(json.dumps(encode(value)))
        return value


def _build_trained(root: Path) -> TrainedModel:
    from edgeaudio.checkpoint import save_edgeaudio, save_official
    from edgeaudio.datasets.events import CLASSES, make_events, write_events
    from edgeaudio.frontend import clip_to_model_inputs

    model, frontend, accuracy = train_events(seed=0)
    checkpoint = save_edgeaudio(model, root / "events.pt", {"labels": list(CLASSES), "frontend": frontend.to_dict()})
    official = save_official(model, root / "checkpoint_best.pyth", epoch=29, frontend=frontend)
    labels_file = root / "labels.txt"
    labels_file.write_text("\n".join(CLASSES) + "\n")
    fresh, _ = make_events(60, 16000, 0.95, seed=5)  # 96 held out: one near-tie flip is still >= 98%
    calib = root / "calib.npy"
    np.save(calib, np.concatenate([clip_to_model_inputs(w, frontend)[:1] for w in fresh]))
    audio_dir = root / "audio"
    write_events(audio_dir, 10, 16000, 0.95, seed=9)
    return TrainedModel(checkpoint, official, labels_file, calib, audio_dir, accuracy)


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> TrainedModel:
    from dataclasses import asdict, fields

    def decode(data: dict) -> TrainedModel:
        return TrainedModel(**{f.name: (Path(data[f.name]) if f.type == "Path" else data[f.name]) for f in fields(TrainedModel)})

    return shared(tmp_path_factory, "trained", _build_trained, lambda t: {k: str(v) if isinstance(v, Path) else v for k, v in asdict(t).items()},
                  decode)


@pytest.fixture(scope="session")
def exported(trained, tmp_path_factory):
    """One export per target from the official-format checkpoint, shared by the tests that read the results."""

    def build(out: Path):
        from edgeaudio.cli import main

        runs = {
            "onnx": ["--target", "onnx", "--dynamic-batch"],
            "fp16": ["--target", "tflite", "--fp16"],
            "int8": ["--target", "tflite", "--int8", "--calib", str(trained.calib_npy)],
        }
        codes = {}
        for name, args in runs.items():
            codes[name] = main(["export", str(trained.official), "--name", "events", "--labels", str(trained.labels),
                                "-o", str(out / name), "--json", str(out / f"{name}.json"), *args])
        return out, codes

    return shared(tmp_path_factory, "exported", build, lambda value: [str(value[0]), value[1]], lambda data: (Path(data[0]), data[1]))


@pytest.fixture(scope="session")
def labelled_clips(tmp_path_factory) -> Path:
    """50 labelled clips of fresh events (seed 21), one folder per class, with a truncated file and a silent one."""

    def build(root: Path) -> Path:
        from edgeaudio.audio import write_wav
        from edgeaudio.datasets.events import write_events

        root = root / "test"
        write_events(root, 6, 16000, 0.95, seed=21, by_class=True)
        good = sorted((root / "tone").glob("*.wav"))[0].read_bytes()
        (root / "tone" / "broken.wav").write_bytes(good[:30])  # a header cut short: no audio to read
        write_wav(root / "siren" / "silence.wav", np.zeros(15200, dtype=np.float32), 16000)
        return root

    return shared(tmp_path_factory, "labelled", build, str, Path)


# The quick loop (`make test-fast`, `-m "not slow"`): a test is slow when it asks for one of these fixtures (each
# exports or trains several models, or builds VGG-Sound-size or full-width YAMNet ones) or is marked slow itself.
SLOW_FIXTURES = {"exported", "ranged", "quiet", "exports", "events", "speech", "exported_lean", "hard", "hard_model",
                 "reference", "int8_export", "sharp_int8_export", "dead_class", "tflite_auto"}


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: left out of `make test-fast` (exports or trains several models)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
