"""int8 without the user's audio against int8 with it: what each calibration choice does, judged on real-ish audio
that nothing was calibrated or tuned on.

For each model: the folded model is exported once (ONNX, onnx2tf SavedModel, TFLite fp32), then converted to full
int8 from that SavedModel with each calibration set and range method, and every int8 file is judged against the
fp32 file on every held-out clip's first window: top-1 agreement (near ties, where fp32 itself rated the two
classes within 0.1, counted as agreeing, as the int8 gate counts them), cosine of the probabilities, max abs error.

- calibration sets: `synthetic`, what `export` uses with no --calib (64 windows of generated audio through the
  model's front end); `audio`, the windows of 100 real-ish clips as `--calib FOLDER` takes them (60 espeak-ng
  utterances in sox noise and 40 synthetic sound events, edgeaudio.datasets);
- range methods (--calib-method): minmax, percentile, mse; and minmax after cross-layer equalization (--equalize);
  and `auto`: `export --target tflite --int8` with no flags but --calib, through the whole pipeline (auto ranges,
  then layers kept float when no method passes; its own gate on its own held-out samples decides);
- judged on 200 other clips (120 utterances, 80 events; other seeds, so other voices' draws, words, levels).

Models: the VGG-Sound-size official checkpoint with realistic statistics (tests/official_reference.py
hard_checkpoint: untrained body, batch norms that have seen log-mel-like data, a random 309-class head), the same
architecture trained on the eight event classes (--trained PATH, written by --train), and the tests' small
trained event classifier.

Run: .venv/bin/python benchmarks/calibration.py [--models hard,small] [--trained PATH] [--out benchmarks/results]
     [--variants auto --merge]  (only the auto rows, merged into the results already in --out)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]  # tests/official_reference.py, tests/conftest.py

VARIANTS = [("synthetic", "minmax", False), ("audio", "minmax", False), ("synthetic", "percentile", False), ("audio", "percentile", False),
            ("synthetic", "mse", False), ("audio", "mse", False), ("synthetic", "minmax", True), ("audio", "minmax", True),
            ("synthetic", "auto", False), ("audio", "auto", False)]


def corpus(root: Path, seconds: float) -> tuple[Path, Path]:
    """(calibration folder, judged folder) of real-ish clips `seconds` long."""
    from edgeaudio.datasets.events import write_events
    from edgeaudio.datasets.speech import write_speech

    calib, judged = root / f"calib_{seconds}", root / f"judged_{seconds}"
    if not calib.exists():
        write_speech(calib, 60, seed=501, seconds=seconds, by_voice=False)
        write_events(calib, 5, 16000, seconds, seed=502)
        write_speech(judged, 120, seed=601, seconds=seconds, by_voice=False)
        write_events(judged, 10, 16000, seconds, seed=602)
    return calib, judged


def hard(work: Path) -> Path:
    from tests.official_reference import hard_checkpoint

    return Path(hard_checkpoint(work / "vggsound_hard.pyth", "vggsound", 0))


def small(work: Path) -> Path:
    from edgeaudio.checkpoint import save_edgeaudio
    from edgeaudio.datasets.events import CLASSES
    from tests.conftest import train_events

    model, frontend, _ = train_events(seed=0)
    return save_edgeaudio(model, work / "events_small.pt", {"labels": list(CLASSES), "frontend": frontend.to_dict()})


def train_vggsound(path: Path, epochs: int = 24) -> Path:
    """The VGG-Sound-size model trained on the eight event classes (40 clips each, 2.56 s crops: the body is fully
    convolutional, only the head's pool follows the frames), written in the official format."""
    import torch

    from edgeaudio.checkpoint import save_official
    from edgeaudio.datasets.events import make_events
    from edgeaudio.frontend import clip_to_model_inputs, get_preset
    from edgeaudio.models import get_spec
    from edgeaudio.training import train_classifier

    frontend, spec = get_preset("vggsound"), get_spec("audiorepinceptionnext")
    waves, labels = make_events(40, 16000, 5.12, seed=11)
    x = np.concatenate([clip_to_model_inputs(w, frontend)[:1] for w in waves])
    starts = np.random.default_rng(0).integers(0, 256, len(x))
    crops = np.stack([x[i, :, s : s + 256] for i, s in enumerate(starts)])
    torch.manual_seed(0)
    crop_model = spec.build(spec.config("vggsound", num_classes=(8,), frames=256))
    train_classifier(crop_model, crops, labels, epochs=epochs, batch=16, lr=2e-3, seed=0, progress=print)
    model = spec.build(spec.config("vggsound", num_classes=(8,)))
    model.load_state_dict(crop_model.state_dict())
    return save_official(model.eval(), path, epoch=epochs, frontend=frontend)


def auto_export(checkpoint: Path, kind: str, calib: Path, frontend: str | None, work: Path) -> tuple[Path, dict]:
    """(the int8 file, how it was made) of `export --target tflite --int8` with no flags but the calibration."""
    from edgeaudio.pipeline.export import ExportOptions, export_checkpoint

    options = ExportOptions(target="tflite", precision="int8", calib=None if kind == "synthetic" else str(calib), frontend=frontend,
                            allow_mismatch=True)
    result = export_checkpoint(checkpoint, work / f"auto_{kind}", options)
    step = [p for p in result.plan if p["precision"] == "int8"][0]
    made = {"export_gate": "pass" if result.passed else "FAIL", "calib_method_used": step["calib_method_used"],
            "float_layers": step["float_layers"], "tries": [t["method"] for t in step["tries"]]}
    return Path([f for f in result.files if f.endswith("_int8.tflite")][0]), made


@dataclass
class Converted:
    """A checkpoint folded, written as SavedModels (plain and equalized) and a TFLite fp32 file, with its front end
    and the fp32 file's answers on the judged clips' first windows."""

    shape: tuple[int, ...]
    preset: str | None
    frontend: object
    saved: dict[bool, Path]  # equalized -> SavedModel
    fp32: Path
    windows: np.ndarray
    reference: np.ndarray


def convert(checkpoint: Path, judged: Path, work: Path, equalize: tuple[bool, ...] = (False, True)) -> Converted:
    """`checkpoint` as Converted, written under `work`."""
    from edgeaudio.audio import audio_files, load_audio
    from edgeaudio.checkpoint import load_checkpoint
    from edgeaudio.exporters import ExportDescription
    from edgeaudio.exporters.to_onnx import export_onnx
    from edgeaudio.exporters.to_tflite import convert_saved_model, onnx_to_saved_model
    from edgeaudio.fold import fold_model
    from edgeaudio.fold.equalize import equalize_model
    from edgeaudio.frontend import clip_to_model_inputs
    from edgeaudio.pipeline.data import choose_frontend
    from edgeaudio.pipeline.torch_run import output_names
    from edgeaudio.runtime.runner import Runner

    loaded = load_checkpoint(checkpoint)
    shape = tuple(loaded.config.input_shape[1:])
    preset = "vggsound" if shape == (1, 512, 128) else None
    frontend = choose_frontend(preset, loaded.meta, loaded.cfg, shape).config
    description = ExportDescription(loaded.spec.name, loaded.spec.input_name, (1, *shape), tuple(output_names(loaded.model, "probabilities")),
                                    "probabilities", tuple(loaded.config.num_classes))
    saved = {}
    for equalized in equalize:
        folded = fold_model(loaded.model)
        if equalized:
            equalize_model(folded)
        folder = work / ("equalized" if equalized else "folded")
        folder.mkdir(parents=True, exist_ok=True)
        export_onnx(loaded.spec.exportable(folded, "probs"), description, folder / "model.onnx")
        saved[equalized] = onnx_to_saved_model(folder / "model.onnx", folder)
    fp32 = work / "fp32.tflite"
    fp32.write_bytes(convert_saved_model(saved[False], "fp32"))
    windows = np.concatenate([clip_to_model_inputs(load_audio(f, frontend.sample_rate), frontend)[:1] for f in audio_files([judged])])
    return Converted(shape, preset, frontend, saved, fp32, windows, Runner(fp32).run(windows)[0])


def judge(checkpoint: Path, calib: Path, judged: Path, work: Path, variants=VARIANTS) -> dict:
    """Every variant's int8 file against the fp32 file on the judged clips' first windows."""
    from edgeaudio.exporters.to_tflite import convert_saved_model
    from edgeaudio.parity import compare
    from edgeaudio.pipeline.data import FrontendChoice, model_inputs, synthetic_model_inputs
    from edgeaudio.runtime.runner import Runner

    c = convert(checkpoint, judged, work, tuple(sorted({False} | {e for _, _, e in variants})))
    shape, preset, frontend, saved, windows, reference = c.shape, c.preset, c.frontend, c.saved, c.windows, c.reference
    calibration = {"synthetic": synthetic_model_inputs(128, shape, frontend, 0)[0][:64],
                   "audio": model_inputs(str(calib), shape, FrontendChoice(frontend, "--frontend")).calibration}
    top2 = np.sort(reference, axis=1)[:, -2:]
    rows = []
    for kind, method, equalized in variants:
        start = time.perf_counter()
        made = {}
        if method == "auto":
            int8, made = auto_export(checkpoint, kind, calib, preset, work)
        else:
            int8 = work / f"{kind}_{method}_{int(equalized)}.tflite"
            int8.write_bytes(convert_saved_model(saved[equalized], "int8", calibration[kind].transpose(0, 2, 3, 1), ranges=method))
        m = compare("probabilities", reference, Runner(int8).run(windows)[0])
        rows.append({"calibration": kind, "method": method, "equalized": equalized, **made, "clips": m.samples, "top1": m.top1,
                     "agreement": m.agreement, "agreement_low": m.agreement_low, "near_ties": m.near_ties, "cosine": m.cosine,
                     "max_abs": m.max_abs, "seconds": round(time.perf_counter() - start, 1)})
        print(json.dumps(rows[-1]), flush=True)
    return {"checkpoint": checkpoint.name, "classes": int(reference.shape[1]), "calibration_windows": {k: len(v) for k, v in calibration.items()},
            "fp32_top_probability_median": float(np.median(top2[:, 1])), "fp32_top2_gap_median": float(np.median(top2[:, 1] - top2[:, 0])),
            "fp32_distinct_answers": int(len(set(reference.argmax(1)))), "rows": rows}


def markdown(results: dict, command: str) -> str:
    lines = ["# int8 without your audio, against int8 with it", "", f"`{command}`", "",
             "Each int8 file against the fp32 file on the first window of 200 held-out real-ish clips (120 espeak-ng "
             "utterances in sox noise, 80 synthetic events; never calibrated on). agreement counts near ties (fp32 "
             "itself within 0.1) as agreeing, as the int8 gate does; its 95% lower bound is Wilson's.", ""]
    for name, r in results.items():
        lines += [f"## {name}: {r['checkpoint']}", "",
                  f"{r['classes']} classes; fp32 on the judged clips: median top probability {r['fp32_top_probability_median']:.3f}, "
                  f"median gap to the second {r['fp32_top2_gap_median']:.3f}, {r['fp32_distinct_answers']} distinct answers; "
                  f"calibration windows {r['calibration_windows']}", "",
                  "| calibration | ranges | equalized | top-1 agree | agreement (95% low) | cosine | max abs |", "|---|---|---|---|---|---|---|"]
        for row in r["rows"]:
            method = row["method"] if row["method"] != "auto" else (
                f"auto: {row['calib_method_used']}" + (f" + float {', '.join(row['float_layers'])}" if row["float_layers"] else "")
                + f" (export gate {row['export_gate']})")
            lines.append(f"| {row['calibration']} | {method} | {'yes' if row['equalized'] else 'no'} | {100 * row['top1']:.1f}% | "
                         f"{100 * row['agreement']:.1f}% ({100 * row['agreement_low']:.1f}%) | {row['cosine']:.4f} | {row['max_abs']:.3f} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--models", default="hard,trained,small")
    parser.add_argument("--trained", default=None, help="the trained VGG-Sound-size checkpoint (written by --train if missing)")
    parser.add_argument("--train", action="store_true", help="train it first (about 40 minutes on two cores)")
    parser.add_argument("--variants", default=None, help="only these range methods, comma-separated (e.g. auto)")
    parser.add_argument("--merge", action="store_true", help="merge the rows into the results already in --out")
    args = parser.parse_args()
    variants = [v for v in VARIANTS if args.variants is None or v[1] in args.variants.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in args.models.split(","):
            if name == "hard":
                checkpoint, seconds = hard(work), 5.12
            elif name == "small":
                checkpoint, seconds = small(work), 2.0
            else:
                checkpoint, seconds = Path(args.trained or work / "vggsound_events.pyth"), 5.12
                if not checkpoint.exists():
                    if not args.train:
                        raise SystemExit(f"{checkpoint} is missing: pass --train to write it")
                    train_vggsound(checkpoint)
            calib, judged = corpus(work, seconds)
            results[name] = judge(checkpoint, calib, judged, work / name, variants)
    command = "python benchmarks/calibration.py " + " ".join(sys.argv[1:])
    record = {"command": command, "load_average_1min": os.getloadavg()[0]}
    if args.merge:  # the earlier rows stay, each replaced by a new row of the same calibration, method and equalization
        earlier = json.loads((out / "calibration.json").read_text())
        record = {"command": f"{earlier['command']}; then {command}", "load_average_1min": [earlier["load_average_1min"], record["load_average_1min"]]}
        for name, r in results.items():
            if name in earlier:
                key = lambda row: (row["calibration"], row["method"], row["equalized"])  # noqa: E731
                fresh = {key(row): row for row in r["rows"]}
                r["rows"] = [fresh.pop(key(row), row) for row in earlier[name]["rows"]] + list(fresh.values())
        results = {**{k: v for k, v in earlier.items() if isinstance(v, dict)}, **results}
        command = record["command"]
    (out / "calibration.json").write_text(json.dumps({**record, **results}, indent=1) + "\n")
    (out / "calibration.md").write_text(markdown(results, command))
    print((out / "calibration.md").read_text())


if __name__ == "__main__":
    main()
