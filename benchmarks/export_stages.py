"""How long each export stage takes for the VGG-Sound-size AudioRepInceptionNeXt (11.8M parameters), and, with
--before REF, the same exports by the code at git REF, run alternately with this tree's in one run.

Run: .venv/bin/python benchmarks/export_stages.py [--before main] [--repeats 1] [--runs int8,fp16]
Writes benchmarks/results/export_stages.json and export_stages.md. The checkpoint is the demo's (official
format, seeded weights, random batch-norm statistics): an untrained network, so the int8 gate is expected to
fail on its near-flat outputs and the export runs with allow_mismatch; the timings are what this file is for,
and every gate's figures are recorded beside them, so a faster export is seen to judge the same way.

Each export runs in a fresh process (imports and TensorFlow's start included, as a user's export pays them);
the REF's code is unpacked with `git archive` into a temporary folder put first on the child's PYTHONPATH.
The machine is shared: the load average before and after each export is recorded with it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = {  # label -> (precision, what the run is)
    "int8": ("int8", "tflite int8 (synthetic calibration, 64 samples)"),
    "fp16": ("fp16", "tflite fp16"),
}


def machine() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "arch": platform.machine(), "python": sys.version.split()[0]}


def one_export(checkpoint: str, precision: str, out_dir: str) -> dict:
    """Child process: export `checkpoint` to TFLite `precision`, timed; the stages and every gate's figures."""
    from edgeaudio.pipeline.export import ExportOptions, export_checkpoint

    import resource

    load = os.getloadavg()[0]
    used = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    # min-max ranges, made once: the one-shot export a user iterating on calibration waits for (the untrained
    # checkpoint fails its int8 gate, which a range search would answer with more tries)
    # (and no layers kept in float, where the code has that search, for the same reason)
    one_pass = {"float_layers": ()} if "float_layers" in ExportOptions.__dataclass_fields__ else {}
    options = ExportOptions(target="tflite", precision=precision, calib="synthetic" if precision == "int8" else None, allow_mismatch=True,
                            calib_method="minmax", **one_pass)
    start = time.perf_counter()
    result = export_checkpoint(checkpoint, out_dir, options)
    total = time.perf_counter() - start
    # processor time of the export and of the processes it ran (the int8 conversion's): with the cores' count,
    # the least wall time the same arithmetic could take
    cpu = sum(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime for before, after in
              zip(used, [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]))
    return {
        "total_seconds": round(total, 2),
        "cpu_seconds": round(cpu, 1),
        "load_before": round(load, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "stages": [{"stage": n, "seconds": round(s, 2)} for n, s in result.stages],
        "files": [{"file": Path(m.path).name, "mb": round(m.size_bytes / 1e6, 2)} for m in result.models],
        "gates": [{"step": s.step, "summary": s.summary(), "passed": s.passed, "noise_floor": s.noise_floor} for s in result.chain],
        "chain": [s.to_dict() for s in result.chain],
    }


def unpack(ref: str, into: Path) -> Path:
    """The code at git `ref`, importable as edgeaudio from `into` (exporters/ is edgeaudio.exporters)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / "edgeaudio" / "exporters").symlink_to(into / "exporters", target_is_directory=True)
    return into


def run_child(checkpoint: Path, precision: str, out_dir: Path, code: Path | None) -> dict:
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(code), *filter(None, [env.get("PYTHONPATH")])])
    result = Path(out_dir).with_suffix(".json")
    # run outside the repository: a child that puts its cwd first on sys.path would import this tree's edgeaudio
    subprocess.run([sys.executable, __file__, "--one", str(checkpoint), precision, str(out_dir), str(result)], env=env, check=True,
                   cwd=Path(out_dir).parent)
    return json.loads(result.read_text())


def render(report: dict) -> str:
    lines = [f"# Export stage timings, {report['model']}", "", f"Machine: {report['machine']}", f"Command: `{report['command']}`", ""]
    if report.get("note"):
        lines += [report["note"], ""]
    for run in report["runs"]:
        cpu = f", processor time {run['cpu_seconds']} s" if "cpu_seconds" in run else ""
        lines += [f"## {run['run']}, {run['code']} (total {run['total_seconds']} s{cpu}; load average {run['load_before']} -> {run['load_after']})",
                  "", "| stage | seconds |", "|---|---|"]
        lines += [f"| {s['stage']} | {s['seconds']} |" for s in run["stages"]]
        lines += ["", "| file | MB |", "|---|---|"] + [f"| {f['file']} | {f['mb']} |" for f in run["files"]]
        lines += ["", "| gate | verdict and figures | noise floor |", "|---|---|---|"]
        lines += [f"| {g['step']} | {g['summary']} | {', '.join(f'{k} {v:.3g}' for k, v in g['noise_floor'].items())} |" for g in run["gates"]]
        lines += [""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--before", help="git ref whose code exports the same checkpoint, alternately with this tree")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--runs", default="int8,fp16", help=f"comma-separated, of {', '.join(RUNS)}")
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)  # child: CHECKPOINT PRECISION OUT_DIR RESULT_JSON
    args = parser.parse_args()
    if args.one:
        checkpoint, precision, out_dir, result = args.one
        Path(result).write_text(json.dumps(one_export(checkpoint, precision, out_dir)))
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from edgeaudio.pipeline.demo import default_checkpoint

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt = default_checkpoint(tmp / "checkpoint_epoch_00000.pyth")
        codes = [("this tree", None)]
        if args.before:
            codes = [(f"before ({args.before})", unpack(args.before, tmp / "before")), ("after (this tree)", None)]
        for repeat in range(args.repeats):
            for label in args.runs.split(","):
                precision, what = RUNS[label]
                for name, code in codes:
                    print(f"{what}, {name}, repeat {repeat + 1}", flush=True)
                    run = run_child(ckpt, precision, tmp / f"{label}-{len(runs)}", code)
                    runs.append({"run": what, "code": name, "repeat": repeat + 1, **run})
                    print(f"  total {run['total_seconds']} s, processor time {run['cpu_seconds']} s, load {run['load_before']} -> "
                          f"{run['load_after']}", flush=True)
    command = "python benchmarks/export_stages.py" + (f" --before {args.before}" if args.before else "") + \
        (f" --repeats {args.repeats}" if args.repeats != 1 else "") + (f" --runs {args.runs}" if args.runs != "int8,fp16" else "")
    env = {k: os.environ[k] for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS") if k in os.environ}
    report = {"command": command, "machine": machine(), "environment": env,
              "model": "AudioRepInceptionNeXt VGG-Sound config (11,834,869 params training form)", "runs": runs}
    if env:
        report["note"] = f"Environment: {env}."
    (out / "export_stages.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "export_stages.md").write_text(render(report))
    print(render(report))


if __name__ == "__main__":
    main()
