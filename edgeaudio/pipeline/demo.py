"""The embedded default job, end to end with nothing from the user.

1. Make a small labelled audio set (synthetic sound events, deterministic) as WAV files.
2. Train a small AudioRepInceptionNeXt on it through the real front end, for a couple of minutes on the CPU.
3. Save the checkpoint in the official PySlowFast format (cfg with the feature settings), and labels.txt.
4. Fold it with parity proven; export ONNX, TFLite fp32 and full int8 calibrated on held-apart audio, every
   step gated; verify the int8 model from its manifest alone.
5. Measure accuracy on held-out test clips (PyTorch, fp32, int8), latency, and predict a few clips.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from edgeaudio.artifacts import Artifact
from edgeaudio.checkpoint import save_official
from edgeaudio.datasets.events import CLASSES, write_events
from edgeaudio.frontend import official_frontend
from edgeaudio.models import get_spec
from edgeaudio.models.audiorepinceptionnext.blocks import randomize_batchnorm
from edgeaudio.pipeline.export import ExportOptions, ExportResult, export_checkpoint
from edgeaudio.errors import ParityError
from edgeaudio.pipeline.fold import FoldResult, fold_checkpoint
from edgeaudio.pipeline.info import ModelInfo, info_for_checkpoint
from edgeaudio.pipeline.predict import ClipPrediction, Predictor
from edgeaudio.pipeline.verify import VerifyResult, verify_model
from edgeaudio.training import train_classifier

# 1 s clips at 16 kHz, official feature recipe (n_fft 2048, HTK mels, log(mel + 1e-6)) at 25/10 ms, 64 mels.
DEMO_FRONTEND = official_frontend(16000, 25, 10, 0.951, 96, n_mels=64)
DEMO_MODEL = dict(num_classes=(len(CLASSES),), frames=96, mels=64, width=16, depths=(1, 1, 1, 1), dropout=0.1)
CLIPS_PER_CLASS = {"train": 80, "calib": 40, "test": 15}  # 64 calibration windows held out for the gate


@dataclass
class SummaryRow:
    model: str
    size_mb: float
    accuracy: float
    agreement: float  # top-1 agreement with the PyTorch model on the test clips
    latency_ms: float  # median, batch 1, 2 threads

    def to_dict(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}


@dataclass
class DemoResult:
    checkpoint: str
    info: ModelInfo
    fold: FoldResult
    export: ExportResult
    verify: VerifyResult
    summary: list[SummaryRow]
    predictions: list[ClipPrediction]
    test_clips: int
    train_seconds: float

    def to_dict(self) -> dict:
        return {
            "checkpoint": self.checkpoint,
            "train_seconds": round(self.train_seconds, 1),
            "test_clips": self.test_clips,
            "summary": [row.to_dict() for row in self.summary],
            "info": self.info.to_dict(),
            "fold": self.fold.to_dict(),
            "export": self.export.to_dict(),
            "verify": self.verify.to_dict(),
            "predictions": [p.to_dict() for p in self.predictions],
        }


def default_checkpoint(path: str | os.PathLike, preset: str = "vggsound", seed: int = 0) -> Path:
    """A seeded, untrained AudioRepInceptionNeXt of a dataset preset in the official format (for counts and
    timing benchmarks; its batch norms get non-trivial statistics so a fold has something to prove)."""
    spec = get_spec("audiorepinceptionnext")
    torch.manual_seed(seed)
    model = spec.build(spec.config(preset), "training").eval()
    randomize_batchnorm(model, torch.Generator().manual_seed(seed))
    return save_official(model, path, epoch=0)


def _first_windows(files: list[Path]) -> np.ndarray:
    """The first model window of each clip, through the real WAV reader and numpy front end."""
    from edgeaudio.audio import load_audio
    from edgeaudio.frontend import clip_to_model_inputs

    return np.concatenate([clip_to_model_inputs(load_audio(f, DEMO_FRONTEND.sample_rate), DEMO_FRONTEND)[:1] for f in files])


def _median_ms(fn, x: np.ndarray, runs: int = 30) -> float:
    fn(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(x)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def run_demo(out_dir: str | os.PathLike, progress: Callable[[str], None] = lambda _m: None, epochs: int = 30) -> DemoResult:
    """Run the whole job into `out_dir`; see the module docstring."""
    out = Path(out_dir)
    progress("writing the synthetic sound-event clips (8 classes)")
    clips = {split: write_events(out / "audio" / split, n, 16000, 0.95, seed=i) for i, (split, n) in enumerate(CLIPS_PER_CLASS.items())}
    labels_of = {split: np.array([CLASSES.index(p.name.rsplit("_", 1)[0]) for p in files]) for split, files in clips.items()}

    progress("computing log-mel features of the training clips with the numpy front end")
    x_train = _first_windows(clips["train"])
    spec = get_spec("audiorepinceptionnext")
    torch.manual_seed(0)
    model = spec.build(spec.config(**DEMO_MODEL))
    start = time.perf_counter()
    train_classifier(model, x_train, labels_of["train"], epochs=epochs, lr=1e-2, progress=lambda m: progress("  " + m))
    train_seconds = time.perf_counter() - start

    checkpoint = save_official(model.eval(), out / "checkpoint_best.pyth", epoch=epochs - 1, frontend=DEMO_FRONTEND)
    (out / "labels.txt").write_text("\n".join(CLASSES) + "\n")
    progress(f"saved {checkpoint} in the official format")
    info = info_for_checkpoint(checkpoint)
    fold = fold_checkpoint(checkpoint, out / "deploy.pt")
    export = export_checkpoint(
        checkpoint,
        out / "export",
        ExportOptions(target="tflite", precision="int8", calib=str(out / "audio" / "calib"), labels=list(CLASSES)),
        progress=progress,
    )
    for failed in (fold, export):  # the demo's own model: a failed gate here is a bug worth its message
        if failed.failure:
            raise ParityError(failed.failure)
    written = {m.artifact: Path(m.path) for m in export.models}
    int8_path, fp32_path = written[Artifact("tflite", "int8")], written[Artifact("tflite", "fp32")]
    progress("verifying the int8 model from its manifest alone")
    verified = verify_model(int8_path)

    progress("measuring accuracy on the held-out test clips and latency at batch 1")
    int8, fp32 = Predictor(int8_path, threads=2), Predictor(fp32_path, threads=2)
    x_test, y_test = _first_windows(clips["test"]), labels_of["test"]
    with torch.no_grad():  # inference as a user runs it: no autograd graph, for the accuracy and the latency
        torch_pred = model.eval()(torch.from_numpy(x_test)).argmax(1).numpy()
        torch_ms = _median_ms(lambda x: model(torch.from_numpy(x)), x_test[:1])
    rows = [SummaryRow("PyTorch (training form)", checkpoint.stat().st_size / 1e6, float((torch_pred == y_test).mean()), 1.0, torch_ms)]
    for label, predictor, path in (("TFLite fp32", fp32, fp32_path), ("TFLite int8", int8, int8_path)):
        pred = predictor.runner.run(x_test)[0].argmax(1)
        rows.append(
            SummaryRow(label, path.stat().st_size / 1e6, float((pred == y_test).mean()), float((pred == torch_pred).mean()),
                       _median_ms(predictor.runner.run, x_test[:1]))
        )
    predictions = [int8.predict(clips["test"][i], top_k=3) for i in range(0, len(CLASSES) * 2, 3)]
    return DemoResult(str(checkpoint), info, fold, export, verified, rows, predictions, len(y_test), train_seconds)
