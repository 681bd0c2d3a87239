"""One checkpoint through every edge runtime edgeaudio writes for, side by side in one run on this machine:
PyTorch eager (training form and folded), ONNX Runtime fp32 and int8 (QDQ), TFLite fp32, fp16 and full int8,
ExecuTorch fp32 and int8 (XNNPACK), each with size, latency p50/p90/p99, memory, load time and its parity
verdict against the original; one table and one plot per model.

Two models:
- the VGG-Sound-size AudioRepInceptionNeXt written by tests/official_reference.py (hard_checkpoint: the official
  format, batch norms that have seen log-mel-like data, 309 classes, 512x128 input): what a Pi user ships. Its
  weights are untrained, so it has no accuracy to measure; int8 is calibrated on generated audio (no --calib).
- the small event classifier the tests train (tests/conftest.train_events), with --eval on 160 fresh labelled
  clips: the accuracy column beside the speed, every format against the checkpoint with a paired test.

Run: .venv/bin/python benchmarks/runtimes.py [--out benchmarks/results] [--runs 30] [--threads 1,2]
Writes runtimes.{json,md} and runtimes_vggsound.png, runtimes_events.png; every figure comes from
`edgeaudio bench CKPT --formats ...` (edgeaudio.pipeline.bench.bench_checkpoint), run here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]  # tests/official_reference.py, tests/conftest.py

FORMATS = ["torch", "onnx", "onnx-int8", "tflite-fp32", "tflite-fp16", "tflite-int8", "executorch-fp32", "executorch-int8"]


def vggsound_checkpoint(work: Path) -> tuple[Path, list[str]]:
    from tests.official_reference import hard_checkpoint

    return Path(hard_checkpoint(work / "vggsound_0.pyth", "vggsound", 0)), []


def events_checkpoint(work: Path) -> tuple[Path, list[str]]:
    """The tests' trained event classifier (edgeaudio format, labels and front end recorded) and 160 fresh
    labelled clips, one folder per class."""
    from edgeaudio.checkpoint import save_edgeaudio
    from edgeaudio.datasets.events import CLASSES, write_events
    from tests.conftest import train_events

    model, frontend, _ = train_events(seed=0)
    path = save_edgeaudio(model, work / "events.pt", {"labels": list(CLASSES), "frontend": frontend.to_dict()})
    write_events(work / "test", 20, 16000, 0.95, seed=31, by_class=True)
    write_events(work / "calib", 8, 16000, 0.95, seed=32)
    return path, ["--calib", str(work / "calib"), "--eval", str(work / "test")]


NOTES = {"vggsound": "Its int8 files fail their parity gate in every runtime, and should: the untrained head gives logits of "
                       "hundreds with a median gap of about 1.5 between the top two classes, finer than any 8-bit grid over "
                       "that range can keep (benchmarks/results/calibration.md). Their speed is real; a trained model's int8 "
                       "passes (the next table)."}
MODELS = {"vggsound": ("AudioRepInceptionNeXt, VGG-Sound size (hard official checkpoint, untrained)", vggsound_checkpoint),
          "events": ("AudioRepInceptionNeXt, small, trained on synthetic events (accuracy on 160 labelled clips)", events_checkpoint)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--models", default="vggsound,events")
    args = parser.parse_args()
    import contextlib
    import io

    from edgeaudio.cli import main as edgeaudio

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    results, sections = {}, []
    for key in args.models.split(","):
        title, make = MODELS[key]
        with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):  # relative paths in the committed report
            checkpoint, extra = make(Path("."))
            load_before = os.getloadavg()[0]
            command = ["bench", str(checkpoint), "--formats", ",".join(FORMATS), "--threads", args.threads, "--runs", str(args.runs),
                       "--warmup", "5", *extra, "--json", "bench.json", "--plot", str(out / f"runtimes_{key}.png")]
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):  # the table bench prints is the one committed
                code = edgeaudio(command)
            if code != 0:
                raise SystemExit(f"edgeaudio bench exited {code} for {key}")
            rendered = printed.getvalue().strip()
            report = json.loads(Path("bench.json").read_text())
            load = {"before": load_before, "after": os.getloadavg()[0]}
        shown = " ".join(c if not c.startswith("/") else Path(c).name for c in command[1:])
        results[key] = {"title": title, "command": f"edgeaudio bench {shown}", "load_average_1min": load, **report}
        sections.append(f"## {title}\n\n`edgeaudio bench {shown}`  \n"
                        f"load average (1 min) {load['before']:.2f} before, {load['after']:.2f} after\n\n```\n{rendered}\n```\n\n"
                        + (f"{NOTES[key]}\n\n" if key in NOTES else "") + f"![latency against size](runtimes_{key}.png)\n")
    (out / "runtimes.json").write_text(json.dumps(results, indent=2) + "\n")
    head = ("# One checkpoint, every edge runtime\n\nMeasured in one run on this machine by `python benchmarks/runtimes.py "
            f"--runs {args.runs} --threads {args.threads}`: each format exported from the same checkpoint, gated on parity "
            "against the original (the parity column), then timed in a fresh process per row.\n\n")
    (out / "runtimes.md").write_text(head + "\n".join(sections))
    print((out / "runtimes.md").read_text())


if __name__ == "__main__":
    main()
