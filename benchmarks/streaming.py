"""Streaming on the device side, measured in one run on this machine: memory against recording length, time
against the whole-file path, the front end's cost per window against the hop, listen's real-time factor, and how
far streamed windows are from the whole-file ones.

Run: .venv/bin/python benchmarks/streaming.py [--out benchmarks/results] [--cache .cache/streaming]
     [--lengths 60,600,3600,10800] [--whole-lengths 60,600] [--whole-source DIR] [--parts ...]
Writes streaming.json and streaming.md.

- Model: the VGG-Sound-size int8 TFLite model of benchmarks/frontend_speed.py (tests/official_reference.py's
  hard_checkpoint, 309 classes, 512x128 input, untrained, synthetic calibration), described for edgeaudio with
  `edgeaudio describe --input logmel --preset vggsound` (its front end and outputs); one interpreter thread.
- Recordings: 48 kHz stereo FLAC made with sox: a minute of the synthetic sound events (edgeaudio.datasets.events)
  over sox's pink noise at -20 dB, repeated to each length (`sox -R ... synth pinknoise`, `sox ... repeat N`).
- Peak RSS: each `edgeaudio predict` / `edgeaudio listen --quiet` runs in its own process, which reports its own
  VmHWM (peak resident set) as it exits. "whole file" is the same command from a checkout of the code before
  streaming (--whole-source DIR, put first on PYTHONPATH), only at the shorter lengths: its memory grows with
  the recording (the issue measured 9.9 GB at three hours).
- Streaming against whole-file time: the same 10-minute recording through Predictor.predict (streamed) and
  through the whole-file path kept here (load_audio, clip_to_model_inputs, the model in batches of 16),
  interleaved over rounds, medians.
- Front end per window: StreamingFrontend over 60 s of audio in 0.1 s blocks at hops of 0.25, 0.5, 1 s and the
  model's own 5.12 s, milliseconds per window, beside the whole-file front end (clip_to_model_inputs on the 60 s:
  each window from its own slice, at the model's hop) and the model's time per window (Runner.run of one
  window), interleaved over rounds, medians. `--parts frontend` re-measures only this part into the same files.
- Windows: the streamed windows of 10 minutes against the whole-file ones (max |input difference|, max |score
  difference|, top-1 agreement), and the official windows cut entirely from one long spectrogram (edge frames
  included) against the official per-slice ones, which the stream reproduces.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy loads its BLAS
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from export_stages import machine  # noqa: E402

EDGEAUDIO = str(Path(sys.executable).with_name("edgeaudio"))
HOPS = (0.25, 0.5, 1.0)


def sox(*args: str) -> None:
    subprocess.run(["sox", "-R", *args], check=True, capture_output=True)


def model_with_manifest(cache: Path) -> Path:
    """The VGG-Sound-size int8 model (built once by frontend_speed.int8_model), described for edgeaudio."""
    from frontend_speed import int8_model

    built = int8_model(cache)
    path = cache / "vggsound_int8_described.tflite"
    if not path.exists():
        shutil.copyfile(built, path)
    subprocess.run([EDGEAUDIO, "describe", str(path), "--input", "logmel", "--preset", "vggsound"], check=True,
                   capture_output=True)
    return path


def recordings(cache: Path, lengths: list[int]) -> dict[int, Path]:
    """48 kHz stereo FLAC files of each length in seconds: a minute of events over pink noise, repeated."""
    from edgeaudio.audio import write_wav
    from edgeaudio.datasets.events import make_events

    base = cache / "minute.flac"
    if not base.exists():
        waves, _ = make_events(13, 48000, 0.95, seed=11)  # 65 events of 0.95 s: just over a minute
        write_wav(cache / "events.wav", np.concatenate(waves)[: 60 * 48000] * 0.5, 48000)
        sox("-n", "-r", "48000", "-c", "1", str(cache / "pink.wav"), "synth", "60", "pinknoise", "vol", "0.1")
        sox("-m", str(cache / "events.wav"), str(cache / "pink.wav"), "-c", "2", str(base))
    out = {}
    for seconds in lengths:
        path = cache / f"pink_events_{seconds}s.flac"
        if not path.exists():
            sox(str(base), str(path), "repeat", str(seconds // 60 - 1)) if seconds > 60 else shutil.copyfile(base, path)
        out[seconds] = path
    return out


# The command's own peak resident set: VmHWM of its process, read as it exits. Not ru_maxrss: Linux carries the
# high-water mark of the image a child was forked from (this benchmark, hundreds of MB) across exec into it.
PEAK_WRAPPER = ("import sys\nfrom edgeaudio.cli import main\ntry:\n    code = main(sys.argv[1:])\nfinally:\n"
                "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
                "    print('VmHWM', hwm, file=sys.stderr)\nraise SystemExit(code)")


def peak_rss(args: list[str], source: str | None = None) -> dict:
    """Run `edgeaudio ARGS` (from the checkout `source` when given, else this one); wall seconds, peak RSS in MB."""
    env = {**os.environ, "PYTHONPATH": source} if source else None
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, *args], capture_output=True, text=True, env=env,
                          cwd=source or None)
    if proc.returncode != 0:
        raise RuntimeError(f"edgeaudio {' '.join(args)} failed: {proc.stderr[-500:]}")
    return {"seconds": round(time.perf_counter() - start, 2), "peak_rss_mb": round(int(proc.stderr.rsplit("VmHWM", 1)[1].split()[0]) / 1024, 1)}


def memory(model: Path, files: dict[int, Path], whole_source: str | None, whole_lengths: list[int], tmp: Path) -> list[dict]:
    rows = []
    for seconds, path in files.items():
        row = {"seconds": seconds, "file_mb": round(path.stat().st_size / 2**20, 1)}
        row["predict"] = peak_rss(["predict", str(model), str(path), "--threads", "1", "--json", str(tmp / "p.json")])
        listen = peak_rss(["listen", str(model), str(path), "--threads", "1", "--quiet", "--json", str(tmp / "l.jsonl")])
        summary = json.loads((tmp / "l.jsonl").read_text().splitlines()[-1])["summary"]
        row["listen"] = {**listen, "windows": summary["windows"], "real_time_factor": summary["real_time_factor"]}
        if whole_source and seconds in whole_lengths:
            row["predict_whole_file"] = peak_rss(["predict", str(model.resolve()), str(path.resolve()), "--threads", "1"], whole_source)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def whole_file_probabilities(predictor, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The path before streaming: the file decoded whole, every window from its own slice, the model in batches."""
    from edgeaudio.audio import load_audio
    from edgeaudio.frontend import clip_to_model_inputs

    windows = clip_to_model_inputs(load_audio(path, predictor.frontend.sample_rate), predictor.frontend)
    return windows, np.concatenate([predictor.window_probabilities(windows[i : i + 16]) for i in range(0, len(windows), 16)])


def streamed_probabilities(predictor, path: Path) -> tuple[np.ndarray, np.ndarray]:
    from edgeaudio.pipeline.clip_stream import file_windows

    windows, _, _ = file_windows(path, predictor.frontend)
    return windows, np.concatenate([predictor.window_probabilities(windows[i : i + 16]) for i in range(0, len(windows), 16)])


def time_against_whole(predictor, path: Path, rounds: int) -> dict:
    times = {"streamed": [], "whole file": []}
    for r in range(rounds):
        order = [("streamed", lambda: predictor.predict(path)), ("whole file", lambda: whole_file_probabilities(predictor, path))]
        for name, call in (order if r % 2 == 0 else order[::-1]):
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    medians = {k: round(statistics.median(v), 3) for k, v in times.items()}
    return {"rounds": rounds, "median_s": medians, "ratio": round(medians["streamed"] / medians["whole file"], 3)}


def window_agreement(predictor, path: Path) -> dict:
    from edgeaudio.frontend import logmel, windows as cut_windows
    from edgeaudio.audio import load_audio

    ws, ps = streamed_probabilities(predictor, path)
    ww, pw = whole_file_probabilities(predictor, path)
    config = predictor.frontend
    wave = load_audio(path, config.sample_rate)
    long_cut = cut_windows(logmel(wave, config), config)
    pl = np.concatenate([predictor.window_probabilities(long_cut[i : i + 16]) for i in range(0, len(long_cut), 16)])
    n = min(len(long_cut), len(ww)) - 1  # the last official window is end-aligned in both, but cut differently
    per_frame = np.abs(long_cut[:n, 0] - ww[:n, 0]).max(axis=(0, 2))
    return {
        "windows": int(len(ww)),
        "streamed_vs_whole": {"max_abs_input": float(np.abs(ws - ww).max()), "max_abs_score": float(np.abs(ps - pw).max()),
                              "top1_agreement": float(np.mean(ps.argmax(1) == pw.argmax(1)))},
        "cut_from_long_spectrogram_vs_own_slice": {
            "max_abs_logmel_first_frame": float(per_frame[0]), "max_abs_logmel_last_frame": float(per_frame[-1]),
            "max_abs_logmel_other_frames": float(per_frame[1:-1].max()),
            "max_abs_score": float(np.abs(pl[:n] - pw[:n]).max()),
            "top1_agreement": float(np.mean(pl[:n].argmax(1) == pw[:n].argmax(1)))},
    }


def frontend_per_window(predictor, seconds: int = 60, rounds: int = 7) -> list[dict]:
    """Front-end milliseconds per window over `seconds` of audio fed in 0.1 s blocks, at each hop, beside the
    whole-file front end (clip_to_model_inputs: each window from its own slice) and the model, interleaved."""
    from edgeaudio.frontend import clip_to_model_inputs
    from edgeaudio.frontend.stream import StreamingFrontend
    from edgeaudio.synthetic import synthetic_waveform

    config = predictor.frontend
    wave = synthetic_waveform(1, seconds * config.sample_rate, config.sample_rate, seed=3)[0]
    one = clip_to_model_inputs(wave[: config.clip_samples], config)
    hops = (*HOPS, config.window_hop_samples / config.sample_rate)
    configs = [dataclasses.replace(config, window_hop_frames=int(round(h * config.sample_rate / config.hop_length))) for h in hops]
    block = config.sample_rate // 10
    per_window: dict = {h: [] for h in hops}
    counts: dict = {}
    whole_ms, model_ms = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        whole = clip_to_model_inputs(wave, config)
        whole_ms.append((time.perf_counter() - t0) / len(whole) * 1e3)
        t0 = time.perf_counter()
        predictor.runner.run(one)
        model_ms.append((time.perf_counter() - t0) * 1e3)
        for hop, hop_config in zip(hops, configs):
            frontend, count = StreamingFrontend(hop_config), 0
            for i in range(0, len(wave), block):
                count += len(frontend.push(wave[i : i + block]))
            count += len(frontend.finish())
            per_window[hop].append(frontend.seconds / count * 1e3)
            counts[hop] = count
    rows = []
    for hop in hops:
        row = {"hop_s": round(hop, 3), "windows": counts[hop], "front_end_ms_per_window": round(statistics.median(per_window[hop]), 3),
               "whole_file_front_end_ms_per_window": round(statistics.median(whole_ms), 3),
               "model_ms_per_window": round(statistics.median(model_ms), 3)}
        row["front_end_share_of_model"] = round(row["front_end_ms_per_window"] / row["model_ms_per_window"], 3)
        rows.append(row)
    return rows


def listen_rtf(model: Path, path: Path, tmp: Path) -> list[dict]:
    rows = []
    for hop in (None, 0.5):
        args = [EDGEAUDIO, "listen", str(model), str(path), "--threads", "1", "--quiet", "--json", str(tmp / "rtf.jsonl")]
        subprocess.run(args + (["--hop", str(hop)] if hop else []), check=True, capture_output=True)
        s = json.loads((tmp / "rtf.jsonl").read_text().splitlines()[-1])["summary"]
        rows.append({"hop_s": s["hop_s"], "windows": s["windows"], "audio_seconds": s["audio_seconds"],
                     "compute_seconds": s["compute_seconds"], "real_time_factor": s["real_time_factor"],
                     "compute_ms_p50": s["compute_ms_p50"]})
    return rows


def merged_rows(old: list[dict], new: list[dict]) -> list[dict]:
    """Memory rows by length: the lengths measured now replace those measured before (--parts memory --lengths)."""
    rows = {r["seconds"]: r for r in old}
    rows.update({r["seconds"]: r for r in new})
    return [rows[k] for k in sorted(rows)]


def render(report: dict) -> str:
    lines = ["# Streaming: memory, time and windows against the whole-file path", "",
             f"Command: `{report['command']}` ({report['seconds']} s). Machine: {report['machine']}. Model: {report['model']}; "
             "one interpreter thread. Recordings: 48 kHz stereo FLAC, events over pink noise (see benchmarks/streaming.py).", "",
             "## Peak RSS against recording length", "",
             "| length | FLAC MB | predict MB | predict s | listen MB | listen s | listen real-time factor | whole-file predict MB |",
             "|---|---|---|---|---|---|---|---|"]
    for r in report["memory"]:
        whole = r.get("predict_whole_file")
        lines.append(f"| {r['seconds'] / 60:g} min | {r['file_mb']} | {r['predict']['peak_rss_mb']} | {r['predict']['seconds']} | "
                     f"{r['listen']['peak_rss_mb']} | {r['listen']['seconds']} | {r['listen']['real_time_factor']:.4f} | "
                     f"{whole['peak_rss_mb'] if whole else '-'} |")
    t = report["time_against_whole"]
    lines += ["", "## Streaming against the whole-file path (same 10-minute recording)", "",
              f"Medians over {t['rounds']} interleaved rounds: streamed {t['median_s']['streamed']} s, whole file "
              f"{t['median_s']['whole file']} s: ratio **{t['ratio']}** (goal: at most 1.10).", "",
              "## Front end per window against the hop (60 s of audio)", "",
              "| hop s | windows | streamed front end ms/window | whole-file front end ms/window (own slices, hop 5.12 s) | model ms/window | front end / model |",
              "|---|---|---|---|---|---|"]
    for r in report["frontend_per_window"]:
        lines.append(f"| {r['hop_s']} | {r['windows']} | {r['front_end_ms_per_window']} | {r['whole_file_front_end_ms_per_window']} | "
                     f"{r['model_ms_per_window']} | {r['front_end_share_of_model']} |")
    lines += ["", "## listen's real-time factor (10-minute file, as fast as it decodes)", "",
              "| hop s | windows | audio s | compute s | real-time factor | per-window p50 ms |", "|---|---|---|---|---|---|"]
    for r in report["listen_rtf"]:
        lines.append(f"| {r['hop_s']} | {r['windows']} | {r['audio_seconds']} | {r['compute_seconds']:.2f} | "
                     f"{r['real_time_factor']:.4f} | {r['compute_ms_p50']:.2f} |")
    lines += [f"\nNote: {n}" for n in report.get("notes", [])]
    w = report["windows"]
    s, c = w["streamed_vs_whole"], w["cut_from_long_spectrogram_vs_own_slice"]
    lines += ["", f"## Windows ({w['windows']} of the 10-minute recording)", "",
              f"- streamed against whole file: max |input difference| {s['max_abs_input']:.3g}, max |score difference| "
              f"{s['max_abs_score']:.3g}, top-1 agreement {s['top1_agreement']:.4f}.",
              f"- official windows cut entirely from one long spectrogram against their own slices (what the stream "
              f"avoids by recomputing each window's edge frames): first frame differs by up to {c['max_abs_logmel_first_frame']:.3g} "
              f"in log-mel, last frame {c['max_abs_logmel_last_frame']:.3g}, other frames {c['max_abs_logmel_other_frames']:.3g}; "
              f"scores by up to {c['max_abs_score']:.3g}, top-1 agreement {c['top1_agreement']:.4f}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--cache", default=".cache/streaming")
    parser.add_argument("--lengths", default="60,600,3600,10800", help="Recording lengths in seconds (whole minutes).")
    parser.add_argument("--whole-lengths", default="60,600", help="Lengths the whole-file CLI is run on.")
    parser.add_argument("--whole-source", default=None,
                        help="A checkout of edgeaudio from before streaming (e.g. `git archive ccbab96 edgeaudio | tar -x -C DIR`), "
                             "run for its memory.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parts", default="windows,frontend,time,rtf,memory",
                        help="Which parts to measure; the others are kept from an existing streaming.json.")
    args = parser.parse_args()
    from edgeaudio.pipeline.predict import Predictor

    started = time.perf_counter()
    cache, out = Path(args.cache), Path(args.out)
    cache.mkdir(parents=True, exist_ok=True)
    model = model_with_manifest(Path(".cache/frontend_speed"))
    lengths = [int(v) for v in args.lengths.split(",")]
    files = recordings(cache, sorted(set(lengths) | {600}))
    predictor = Predictor(model, threads=1)
    parts = set(args.parts.split(","))
    previous = out / "streaming.json"
    partial = parts != {"windows", "frontend", "time", "rtf", "memory"}
    report = json.loads(previous.read_text()) if previous.exists() and partial else {}
    command = "python benchmarks/streaming.py " + " ".join(sys.argv[1:])
    report.update({"command": f"{report['command']}`, then `{command}" if report.get("command") else command, "machine": machine(),
                   "model": "VGG-Sound-size AudioRepInceptionNeXt, TFLite int8 (benchmarks/frontend_speed.py's)"})
    steps = {"windows": lambda: window_agreement(predictor, files[600]),
             "frontend_per_window": lambda: frontend_per_window(predictor),
             "time_against_whole": lambda: time_against_whole(predictor, files[600], args.rounds),
             "listen_rtf": lambda: listen_rtf(model, files[600], cache),
             "memory": lambda: merged_rows(report.get("memory", []), memory(model, {s: files[s] for s in lengths}, args.whole_source,
                                                                            [int(v) for v in args.whole_lengths.split(",")], cache))}
    names = {"windows": "windows", "frontend": "frontend_per_window", "time": "time_against_whole", "rtf": "listen_rtf",
             "memory": "memory"}
    for part, key in names.items():
        if part in parts:
            report[key] = steps[key]()
            print(json.dumps(report[key]), flush=True)
    report["seconds"] = round(time.perf_counter() - started + report.get("seconds", 0), 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "streaming.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "streaming.md").write_text(render(report))
    print(render(report))


if __name__ == "__main__":
    main()
