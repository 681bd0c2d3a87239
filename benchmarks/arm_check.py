"""`make arm-check`: the runtime side on aarch64 without a board, under qemu-user emulation.

1. Builds (once, cached in .cache/arm64-root) an arm64 Debian bookworm root with its Python 3.11: a first-stage
   `debootstrap --foreign --variant=minbase`, then every downloaded .deb unpacked with `dpkg -x`.
2. Downloads the aarch64 wheels of the runtime dependencies (numpy, click, ai-edge-litert) and unpacks them into
   the root; edgeaudio itself is pure Python and is used from this checkout.
3. Exports a small trained model on this x86 machine (fp32 and full int8 TFLite), then under qemu as a
   Cortex-A72 (Raspberry Pi 4) and a Cortex-A76 (Raspberry Pi 5) runs `edgeaudio verify` and `edgeaudio bench`
   on both models and records their raw outputs, which it compares with the x86 outputs: bit-exact or within
   the model's parity bound.

Timings under emulation are labelled as such: they say nothing about a device's speed.
Needs root with apt (qemu-user-static, debootstrap are installed if missing). Run: python benchmarks/arm_check.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT_DIR = Path(".cache/arm64-root")
# ai-edge-litert 2.3.0 crashes (SIGSEGV) creating an interpreter under qemu 7.2; 1.4.0 runs (shared/ENVIRONMENT.md)
ARM_WHEELS = ["numpy>=2", "click>=8.1", "ai-edge-litert==1.4.0"]
CPUS = {"cortex-a72": "Raspberry Pi 4", "cortex-a76": "Raspberry Pi 5"}


def sh(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kwargs)


def ensure_tools() -> None:
    if shutil.which("qemu-aarch64-static") and shutil.which("debootstrap"):
        return
    sh(["apt-get", "update", "-qq"])
    sh(["apt-get", "install", "-y", "-qq", "qemu-user-static", "debootstrap"])


def build_root(root: Path) -> Path:
    python = root / "usr/bin/python3.11"
    if python.exists():
        return python
    tmp = root.with_name(root.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    sh(["debootstrap", "--arch=arm64", "--foreign", "--variant=minbase", "--include=python3", "bookworm", str(tmp)],
       stdout=subprocess.DEVNULL)
    for deb in sorted((tmp / "var/cache/apt/archives").glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(tmp)], check=True)
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    return python


def install_wheels(root: Path) -> Path:
    site = root / "opt/edgeaudio-site"
    stamp = site / ".wheels"
    if stamp.exists() and stamp.read_text() == "\n".join(ARM_WHEELS):
        return site
    shutil.rmtree(site, ignore_errors=True)
    wheels = root / "opt/wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    platforms = [a for p in ("manylinux_2_17_aarch64", "manylinux2014_aarch64", "manylinux_2_27_aarch64", "manylinux_2_28_aarch64")
                 for a in ("--platform", p)]
    sh([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", *platforms, "--python-version", "3.11",
        "-d", str(wheels), *ARM_WHEELS])
    site.mkdir(parents=True)
    for wheel in wheels.glob("*.whl"):
        with zipfile.ZipFile(wheel) as z:
            z.extractall(site)
    stamp.write_text("\n".join(ARM_WHEELS))
    return site


def export_models(out: Path) -> dict:
    """A small trained model, exported fp32 + int8 on x86, and its x86 outputs on the recorded inputs."""
    sys.path.insert(0, str(Path.cwd()))
    from edgeaudio.pipeline.demo import run_demo

    if not (out / "export").exists():
        run_demo(out, progress=lambda m: print(m, flush=True))
    models = {m.name: m for m in (out / "export").glob("*.tflite")}
    int8 = next(p for n, p in models.items() if n.endswith("_int8.tflite"))
    fp32 = next(p for n, p in models.items() if n.endswith("_fp32.tflite"))
    return {"int8": int8, "fp32": fp32}


PROBE = r"""
import json, sys, numpy as np
from edgeaudio.runtime.runner import Runner
from edgeaudio.runtime.manifest import read_manifest
path, out = sys.argv[1], sys.argv[2]
m = read_manifest(path)
d = np.load(path.rsplit("/", 1)[0] + "/" + m.expected_file)
y = Runner(path).run(d["inputs"])[0]
np.save(out, y)
"""


def run_arm(python: Path, root: Path, site: Path, cpu: str, args: list[str], timeout: int = 1800) -> subprocess.CompletedProcess:
    env = {**os.environ, "QEMU_CPU": cpu, "PYTHONPATH": f"{site}:{Path.cwd()}", "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = ["qemu-aarch64-static", "-L", str(root), str(python), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--work", default=".cache/arm-check")
    args = parser.parse_args()
    start = time.perf_counter()
    ensure_tools()
    root = ROOT_DIR.resolve()
    python = build_root(root)
    site = install_wheels(root)
    work = Path(args.work).resolve()
    models = export_models(work)
    from edgeaudio.runtime.runner import Runner

    report = {"command": "make arm-check", "note": "timings under qemu-user emulation, not device timings", "cpus": {}}
    failed = False
    for cpu, board in CPUS.items():
        entry: dict = {"board": board}
        for precision, path in models.items():
            probe = run_arm(python, root, site, cpu, ["-c", PROBE, str(path), str(work / f"arm_{cpu}_{precision}.npy")])
            if probe.returncode != 0:
                entry[precision] = {"error": (probe.stderr.strip().splitlines() or ["crashed"])[-1], "returncode": probe.returncode}
                failed = True
                continue
            arm = np.load(work / f"arm_{cpu}_{precision}.npy")
            manifest_inputs = np.load(path.with_name(path.name.replace(f"_{precision}.tflite", ".expected.npz")))["inputs"]
            x86 = Runner(path).run(manifest_inputs)[0]
            cli = ["-c", "from edgeaudio.cli import main; raise SystemExit(main())"]
            verify = run_arm(python, root, site, cpu, [*cli, "verify", str(path)])
            # qemu-user without binfmt cannot start the fresh child process bench normally uses: measure in-process
            bench = run_arm(python, root, site, cpu, [*cli, "bench", str(path), "--runs", "5", "--warmup", "1", "--in-process",
                                                      "--json", str(work / f"bench_{cpu}_{precision}.json")])
            bench_row = json.loads((work / f"bench_{cpu}_{precision}.json").read_text())["rows"][0] if bench.returncode == 0 else None
            entry[precision] = {
                "bit_exact_vs_x86": bool(np.array_equal(arm, x86)),
                "max_abs_vs_x86": float(np.max(np.abs(arm.astype(np.float64) - x86))),
                "verify_exit": verify.returncode,
                "verify_output": (verify.stdout.strip().splitlines() or [verify.stderr.strip()])[-1],
                "bench_exit": bench.returncode,
                "bench_error": None if bench.returncode == 0 else (bench.stderr.strip().splitlines() or [""])[-1],
                "emulated_p50_ms": None if bench_row is None else round(bench_row["p50_ms"], 2),
                "backend": None if bench_row is None else bench_row["backend"],
            }
            failed |= verify.returncode != 0 or bench.returncode != 0
        report["cpus"][cpu] = entry
        print(json.dumps({cpu: entry}, indent=2), flush=True)
    report["seconds"] = round(time.perf_counter() - start, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "arm_check.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"arm-check {'FAILED' if failed else 'passed'} in {report['seconds']} s; timings are emulated, not device timings")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
