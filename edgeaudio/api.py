"""The Python API: each job of the CLI as one call that returns the result the CLI renders.

    import edgeaudio

    result = edgeaudio.export("checkpoint_best.pyth", target="tflite", int8=True, out="out")
    result.passed, result.files                       # every gate passed; the files written
    edgeaudio.verify(result.files[-1]).passed         # parity from the manifest alone
    edgeaudio.predict(result.files[-1], ["clip.wav"])[0].top[0].label

Nothing here prints or exits: progress goes to the `progress` callback (a function taking one message), errors a
user can cause are edgeaudio.errors exceptions (InputError and its kin), and a failed gate is a result whose
`passed` is False. torch, tensorflow and onnx are imported only by the calls that need them, so verify, predict,
evaluate (of exported files) and bench (of exported files) run with the base install on a device.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

if TYPE_CHECKING:
    from edgeaudio.pipeline.evaluate import EvalReport
    from edgeaudio.pipeline.export import ExportOptions, ExportResult
    from edgeaudio.pipeline.fold import FoldResult
    from edgeaudio.pipeline.info import ModelInfo
    from edgeaudio.pipeline.predict import ClipPrediction
    from edgeaudio.pipeline.verify import VerifyResult

Path = str | os.PathLike
Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    pass


def export(checkpoint: Path, target: str = "onnx", *, int8: bool = False, fp16: bool = False, calib: str | None = None,
           out: Path | None = None, options: "ExportOptions | None" = None, progress: Progress | None = None,
           **fields) -> "ExportResult":
    """Export `checkpoint` to `target` ("onnx", "tflite", "executorch"), fp32 or `int8` / `fp16`, into the folder
    `out` (default: beside the checkpoint), every step gated on parity.

    `calib` is int8 calibration data (a folder of audio, a .npy of model inputs; None: generated). Any other
    ExportOptions field may be given by name (calib_method, labels, frontend, eval_data, max_drop, ...), or a
    whole `options`. Returns the ExportResult: `.passed`, `.files`, `.chain` (every step's numbers), and
    `.failure` when a gate failed and nothing was written.
    """
    from edgeaudio.pipeline.export import ExportOptions, export_checkpoint

    if int8 and fp16:
        raise ValueError("int8 and fp16 exclude each other")
    if options is None:
        options = ExportOptions(target=target, precision="int8" if int8 else "fp16" if fp16 else "fp32", calib=calib, **fields)
    elif fields or int8 or fp16 or calib is not None or target != "onnx":
        raise ValueError("give either options= or the option arguments, not both")
    return export_checkpoint(checkpoint, out, options, progress or _quiet)


def fold(checkpoint: Path, out: Path | None = None, *, samples: int = 8, seed: int = 0, float_factor: float | None = None,
         frames: int | None = None, mels: int | None = None) -> "FoldResult":
    """Fold `checkpoint` into its single-branch deploy form and prove it: exact in float64, rounding only in
    float32. Writes the deploy checkpoint to `out` when given and the fold passed. `frames`/`mels` describe a
    bare state dict's input. Returns the FoldResult (`.passed`, `.chain`, `.output`, `.failure`)."""
    from edgeaudio.pipeline.fold import fold_checkpoint
    from edgeaudio.pipeline.gates import FLOOR_FACTOR

    overrides = {k: v for k, v in (("frames", frames), ("mels", mels)) if v is not None}
    return fold_checkpoint(checkpoint, out, samples, seed, overrides or None, FLOOR_FACTOR if float_factor is None else float_factor)


def verify(model: Path, *, reference: Path | None = None, data: Path | None = None, per_layer: bool = False,
           threads: int | None = None) -> "VerifyResult":
    """Re-run an exported model's parity check against the outputs its export recorded (or a `reference`
    checkpoint, in PyTorch). `per_layer` ranks an int8 model's layers by SQNR. Returns the VerifyResult
    (`.passed`, `.check`, `.per_layer`)."""
    from edgeaudio.pipeline.verify import verify_model

    return verify_model(model, reference, data, per_layer, threads)


def evaluate(models: Sequence[Path], data: Path, *, max_drop: float | None = None, labels: Sequence[str] | None = None,
             frontend: str | None = None, threads: int | None = None, workers: int = 1,
             progress: Callable[[int], None] | None = None) -> "EvalReport":
    """Accuracy of every model (exported files or checkpoints) on the labelled clips of `data` (a folder per
    class, or a CSV), the first model as the reference; `max_drop` points fails a model whose loss is real by a
    paired test. `labels`/`frontend` serve models that record neither. `progress(k)` as k more clips finish.
    Returns the EvalReport (`.passed`, `.models` with metrics, intervals and the paired test)."""
    from edgeaudio.pipeline.evaluate import ModelSource, evaluate as evaluate_models

    sources = [ModelSource(os.fspath(m), frontend, tuple(labels) if labels is not None else None, threads) for m in models]
    return evaluate_models(sources, os.fspath(data), max_drop, workers, progress or (lambda _n: None))


def predict(model: Path, clips: Iterable[Path], *, top_k: int = 5, threads: int | None = None,
            labels: Sequence[str] | None = None) -> "list[ClipPrediction]":
    """The top labels of each clip (files, or folders walked for audio), and of each window of a long clip, from an
    exported model with its manifest's front end. A clip that cannot be read gets a result with `.error`."""
    from edgeaudio.audio import audio_files
    from edgeaudio.pipeline.predict import Predictor, predict_stream

    predictor = Predictor(model, threads, list(labels) if labels is not None else None)
    return list(predict_stream(predictor, audio_files(list(clips)), top_k))


def bench(models: Sequence[Path], *, threads: Sequence[int | None] | None = None, batches: Sequence[int] = (1,), runs: int = 50,
          warmup: int = 10, duration: float | None = None, in_process: bool = False, progress: Progress | None = None):
    """Latency, memory, size, parameters and MACs of each model (exported files or checkpoints), each in a fresh
    process at every thread count and batch. Returns the BenchReport (`.rows`, `.machine`)."""
    from edgeaudio.pipeline.bench import BenchEntry, BenchSettings, bench_models

    settings = BenchSettings(threads=tuple(threads) if threads else (None,), batches=tuple(batches), runs=runs, warmup=warmup,
                             duration=duration, in_process=in_process)
    return bench_models([BenchEntry(os.fspath(m)) for m in models], settings, progress or _quiet)


def info(checkpoint: Path | None = None, *, arch: str | None = None, preset: str | None = None, **config) -> "ModelInfo":
    """Parameters and MACs of a checkpoint (what it is, which form), or of an architecture from its config
    (`arch`, `preset` and config fields such as num_classes, frames, mels)."""
    from edgeaudio.pipeline.info import info_for_arch, info_for_checkpoint

    if checkpoint is not None:
        return info_for_checkpoint(checkpoint, overrides=config or None)
    if arch is None:
        raise ValueError("give a checkpoint or arch=")
    return info_for_arch(arch, preset, **config)
