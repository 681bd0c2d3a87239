"""`make arm-check`: the runtime side on aarch64 without a board, under qemu-user emulation, with the versions a
Raspberry Pi's `pip install` resolves to.

1. Gets qemu-user 10.x from Debian's bookworm-backports suite (once, cached in .cache/qemu10): the mirror is the
   one this machine's apt sources already use, written into a sources file of the check's own (with its own apt
   lists and cache, so the system's apt state and its installed qemu are untouched); `apt-get download` and
   `dpkg -x` give a static `qemu-aarch64`, whose `--version` goes into the report. Why not bookworm's own
   qemu-user-static (7.2): ai-edge-litert 2.3.0, what a Pi's pip install takes, crashes (SIGSEGV) creating an
   interpreter under qemu 7.2, which only left pinning 1.4.0 - a version no Pi user gets. Under qemu 10.0 2.3.0
   runs. Without qemu 10 the check stops with an error rather than fall back to 7.2 and the old pin.
2. Builds (once each, cached in .cache/arm64-<release>) two arm64 Debian roots, the two Raspberry Pi OS bases
   people run: bookworm with its Python 3.11 and trixie (Raspberry Pi OS 13) with its Python 3.13; each a
   first-stage `debootstrap --foreign --variant=minbase`, then every downloaded .deb unpacked with `dpkg -x`.
3. Resolves the base install for each root, unpinned: the `dependencies` of pyproject.toml (numpy, click,
   ai-edge-litert, soundfile, soxr), `pip download`ed with their own dependencies (cffi and pycparser for
   soundfile, ...) as wheels for that root's Python (cp311, cp313) and every manylinux aarch64 tag its glibc
   accepts (2.36, 2.41) - the wheels pip on a 64-bit Raspberry Pi OS of that release picks - and unpacks them
   into the root. The exact versions (from the wheel names) go into the report, per release. edgeaudio itself
   is pure Python and is used from this checkout.
4. Exports a small trained model on this x86 machine (the demo's; fp32 and full int8 TFLite), writes a FLAC clip
   and a 48 kHz WAV clip from the demo's test audio, then in each root under qemu as a Cortex-A72 (Raspberry
   Pi 4) and a Cortex-A76 (Raspberry Pi 5):
   - probe: runs both models on their recorded inputs and compares the raw outputs with x86's (bit-exact or
     the max abs difference);
   - `edgeaudio verify` and `edgeaudio bench` on both models;
   - audio: imports soundfile (its bundled libsndfile, loaded through cffi) and soxr, reads the FLAC clip and
     resamples the 48 kHz clip to 16 kHz (soxr VHQ), compared with the same on x86;
   - predict: `edgeaudio predict MODEL clip.flac clip48k.wav --json ...` on both models, its top labels
     compared with the same command on x86.

Timings under emulation are labelled as such: they say nothing about a device's speed.
Needs root with apt (debootstrap is installed if missing). Run: python benchmarks/arm_check.py
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

CACHE_DIR = Path(".cache")
QEMU_DIR = Path(".cache/qemu10")
QEMU_SUITE = "bookworm-backports"
QEMU_MIN = (10, 0)  # ai-edge-litert 2.3.0 segfaults creating an interpreter under bookworm's qemu 7.2
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

def platforms(glibc_minor: int) -> list[str]:
    """The aarch64 wheel tags pip accepts under glibc 2.`glibc_minor`: manylinux_2_17 .. that one (newest first,
    as pip ranks them), then plain linux_aarch64."""
    return [*(f"manylinux_2_{minor}_aarch64" for minor in range(glibc_minor, 16, -1)), "manylinux2014_aarch64", "linux_aarch64"]


# The Debian releases Raspberry Pi OS is built on: bookworm (Pi OS 12) and trixie (Pi OS 13, the current one),
# with the Python and glibc each ships.
RELEASES = {
    "bookworm": {"python": "3.11", "glibc": "2.36", "platforms": platforms(36)},
    "trixie": {"python": "3.13", "glibc": "2.41", "platforms": platforms(41)},
}
CPUS = {"cortex-a72": "Raspberry Pi 4", "cortex-a76": "Raspberry Pi 5"}
CLI = ["-c", "from edgeaudio.cli import main; raise SystemExit(main())"]
# soxr on aarch64 (NEON) and x86 (SSE/AVX) sum in different orders; the float32 results must agree within half
# a 16-bit step, i.e. invisibly at the clips' own resolution.
SOXR_TOLERANCE = 0.5 / 32768
CACHE_USE: dict[str, str] = {}  # what this run built and what it reused from .cache (for reading its seconds)


class ArmCheckError(RuntimeError):
    """The check cannot run (a tool or download is missing): one clear line, exit status 2."""


def sh(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kwargs)


def last_line(proc: subprocess.CompletedProcess) -> str:
    return (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or [f"exit {proc.returncode}"])[-1]


def ensure_tools() -> None:
    if shutil.which("debootstrap"):
        return
    sh(["apt-get", "update", "-qq"])
    sh(["apt-get", "install", "-y", "-qq", "debootstrap"])


# --- qemu 10 from bookworm-backports ------------------------------------------------------------------------------

def _apt_source_entries() -> list[tuple[str, list[str], list[str], str | None]]:
    """(URI, suites, components, signed-by) of every enabled `deb` entry in this machine's apt sources."""
    etc = Path("/etc/apt")
    files = [etc / "sources.list"] + sorted((etc / "sources.list.d").glob("*.list")) + sorted((etc / "sources.list.d").glob("*.sources"))
    entries = []
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":  # deb822 stanzas
            for stanza in re.split(r"\n[ \t]*\n", text):
                fields: dict[str, str] = {}
                key = None
                for line in stanza.splitlines():
                    if not line.strip() or line.lstrip().startswith("#"):
                        continue
                    if line[0] in " \t" and key:
                        fields[key] += "\n" + line.strip()
                        continue
                    key, _, value = line.partition(":")
                    key = key.strip().lower()
                    fields[key] = value.strip()
                if fields.get("enabled", "yes").lower() == "no" or "deb" not in fields.get("types", "").split():
                    continue
                for uri in fields.get("uris", "").split():
                    entries.append((uri, fields.get("suites", "").split(), fields.get("components", "").split(),
                                    fields.get("signed-by")))
        else:  # one-line format: deb [options] URI suite components...
            for line in text.splitlines():
                m = re.match(r"\s*deb\s+(?:\[(?P<opts>[^\]]*)\]\s+)?(?P<uri>\S+)\s+(?P<suite>\S+)\s*(?P<comps>[^#]*)", line)
                if not m:
                    continue
                opts = dict(o.split("=", 1) for o in (m["opts"] or "").split() if "=" in o)
                entries.append((m["uri"], [m["suite"]], m["comps"].split(), opts.get("signed-by")))
    return entries


def debian_mirror() -> tuple[str, str | None]:
    """The Debian archive (URI, keyring file or None) this machine's apt uses for bookworm main."""
    entries = _apt_source_entries()
    for uri, suites, components, keyring in entries:
        if "main" in components and any(s in ("bookworm", "bookworm-updates", QEMU_SUITE) for s in suites):
            keyring = keyring if keyring and "\n" not in keyring and Path(keyring).is_file() else None
            return uri.rstrip("/"), keyring
    raise ArmCheckError("no Debian bookworm `main` entry in /etc/apt/sources.list{,.d}: cannot tell which mirror "
                        f"carries {QEMU_SUITE}; pass --qemu PATH to a qemu-aarch64 >= {'.'.join(map(str, QEMU_MIN))}")


def qemu_version(binary: Path) -> tuple[tuple[int, ...], str]:
    """((major, minor, ...), the version line) of a qemu-aarch64 binary."""
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise ArmCheckError(f"{binary} --version failed: {exc}") from None
    line = out.strip().splitlines()[0] if out.strip() else ""
    m = re.search(r"version (\d+(?:\.\d+)*)", line)
    if not m:
        raise ArmCheckError(f"{binary} --version printed no version: {line!r}")
    return tuple(int(p) for p in m[1].split(".")), line


def fetch_qemu(cache: Path) -> Path:
    """qemu-user from bookworm-backports, unpacked into `cache`/root (apt-get download + dpkg -x, cached)."""
    binary = cache / "root/usr/bin/qemu-aarch64"
    CACHE_USE["qemu"] = "reused" if binary.exists() else "downloaded"
    if binary.exists():
        return binary
    uri, keyring = debian_mirror()
    apt = cache / "apt"
    for d in ("sources.list.d", "preferences.d", "lists/partial", "cache/archives/partial", "debs"):
        (apt / d).mkdir(parents=True, exist_ok=True)
    options = f"[signed-by={keyring}] " if keyring else ""
    (apt / "sources.list.d/bookworm-backports.list").write_text(f"deb {options}{uri} {QEMU_SUITE} main\n")
    conf = ["-o", "Dir::Etc::SourceList=/dev/null", "-o", f"Dir::Etc::SourceParts={apt / 'sources.list.d'}",
            "-o", f"Dir::Etc::PreferencesParts={apt / 'preferences.d'}", "-o", f"Dir::State::Lists={apt / 'lists'}",
            "-o", f"Dir::Cache={apt / 'cache'}", "-o", "APT::Sandbox::User=root"]
    try:
        sh(["apt-get", *conf, "update", "-qq"])
        for old in (apt / "debs").glob("*.deb"):
            old.unlink()
        sh(["apt-get", *conf, "download", f"qemu-user/{QEMU_SUITE}"], cwd=apt / "debs")
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ArmCheckError(f"could not download qemu-user from {QEMU_SUITE} ({exc}); bookworm's qemu 7.2 crashes "
                            f"ai-edge-litert 2.x, so the check does not fall back to it: pass --qemu PATH to a "
                            f"qemu-aarch64 >= {'.'.join(map(str, QEMU_MIN))}") from None
    deb = max((apt / "debs").glob("qemu-user_*.deb"))
    tmp = cache / "root.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    sh(["dpkg", "-x", str(deb), str(tmp)])
    (tmp / "package.txt").write_text(deb.name + "\n")
    if not (tmp / "usr/bin/qemu-aarch64").exists():
        raise ArmCheckError(f"{deb.name} holds no usr/bin/qemu-aarch64")
    shutil.rmtree(cache / "root", ignore_errors=True)
    tmp.rename(cache / "root")
    return binary


def ensure_qemu(cache: Path, override: str | None) -> tuple[Path, dict]:
    binary = Path(override).resolve() if override else fetch_qemu(cache)
    version, line = qemu_version(binary)
    if version[:2] < QEMU_MIN:
        raise ArmCheckError(f"{binary} is qemu {'.'.join(map(str, version))}; the check needs qemu >= "
                            f"{'.'.join(map(str, QEMU_MIN))}: ai-edge-litert 2.x segfaults under bookworm's 7.2 "
                            "and was proven under 10.0")
    package = None if override else (cache / "root/package.txt").read_text().strip()
    return binary, {"binary": str(binary), "version": ".".join(map(str, version)), "version_line": line,
                    "source": "--qemu" if override else f"Debian {QEMU_SUITE}", "package": package}


# --- the arm64 root and the base install's wheels -----------------------------------------------------------------

def build_root(root: Path, release: str) -> Path:
    """An arm64 Debian `release` root (cached in `root`); returns its python3.X."""
    python = root / f"usr/bin/python{RELEASES[release]['python']}"
    CACHE_USE[f"arm64_root_{release}"] = "reused" if python.exists() else "built"
    if python.exists():
        return python
    tmp = root.with_name(root.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    sh(["debootstrap", "--arch=arm64", "--foreign", "--variant=minbase", "--include=python3", release, str(tmp)],
       stdout=subprocess.DEVNULL)
    for deb in sorted((tmp / "var/cache/apt/archives").glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(tmp)], check=True)
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    return python


def base_requirements(pyproject: Path = PYPROJECT) -> list[str]:
    """The base install's requirements: [project] dependencies of pyproject.toml, as written (no pins added)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise ArmCheckError("reading pyproject.toml needs Python >= 3.11 (tomllib)") from None
    with pyproject.open("rb") as f:
        return list(tomllib.load(f)["project"]["dependencies"])


def wheel_versions(names: list[str]) -> dict[str, str]:
    """{distribution: version} from wheel file names (name-version[-build]-python-abi-platform.whl)."""
    versions = {}
    for name in names:
        dist, version = name.split("-")[:2]
        versions[dist.lower().replace("_", "-")] = version
    return versions


def install_wheels(root: Path, release: str, requirements: list[str]) -> tuple[Path, list[str]]:
    """Resolve `requirements` for aarch64 and `release`'s Python now (pip's cache makes this cheap) and unpack the
    wheels into the root; the unpacked site is reused while the resolved wheel set is unchanged."""
    facts = RELEASES[release]
    site = root / "opt/edgeaudio-site"
    stamp = site / ".wheels"
    fresh = root / "opt/wheels.partial"
    shutil.rmtree(fresh, ignore_errors=True)
    tags = [a for p in facts["platforms"] for a in ("--platform", p)]
    sh([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", *tags, "--python-version", facts["python"],
        "--implementation", "cp", "-d", str(fresh), *requirements])
    names = sorted(p.name for p in fresh.iterdir())
    if not names or any(not n.endswith(".whl") for n in names):
        raise ArmCheckError(f"pip download gave files that are not wheels: {names}")
    wheels = root / "opt/wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    fresh.rename(wheels)
    CACHE_USE[f"wheels_{release}"] = "reused" if stamp.exists() and stamp.read_text().split() == names else "unpacked"
    if CACHE_USE[f"wheels_{release}"] == "reused":
        return site, names
    shutil.rmtree(site, ignore_errors=True)
    site.mkdir(parents=True)
    for name in names:
        with zipfile.ZipFile(wheels / name) as z:
            z.extractall(site)
    stamp.write_text("\n".join(names) + "\n")
    return site, names


# --- x86 side: models, clips and references -----------------------------------------------------------------------

def export_models(out: Path) -> dict:
    """A small trained model, exported fp32 + int8 on x86 (the demo's; its test clips stay in out/audio/test)."""
    sys.path.insert(0, str(Path.cwd()))
    from edgeaudio.pipeline.demo import run_demo

    CACHE_USE["models"] = "reused" if (out / "export").exists() else "trained and exported"
    if not (out / "export").exists():
        run_demo(out, progress=lambda m: print(m, flush=True))
    models = {m.name: m for m in (out / "export").glob("*.tflite")}
    int8 = next(p for n, p in models.items() if n.endswith("_int8.tflite"))
    fp32 = next(p for n, p in models.items() if n.endswith("_fp32.tflite"))
    return {"int8": int8, "fp32": fp32}


def write_clips(work: Path) -> dict:
    """clip.flac (two of the demo's 16 kHz test clips back to back, 16-bit FLAC) and clip48k.wav (a third one
    resampled to 48 kHz, 16-bit WAV), written with soundfile on x86."""
    import soundfile
    import soxr

    test = sorted((work / "audio/test").glob("*.wav"))

    def first(label: str) -> Path:
        return next(p for p in test if p.stem.rsplit("_", 1)[0] == label)

    clips = work / "clips"
    clips.mkdir(exist_ok=True)
    flac_parts = [first("siren"), first("tremolo")]
    flac = np.concatenate([soundfile.read(p, dtype="float32")[0] for p in flac_parts])
    soundfile.write(clips / "clip.flac", flac, 16000)
    source48, rate = soundfile.read(first("chirp_up"), dtype="float32")
    wav48 = soxr.resample(source48, rate, 48000, quality="VHQ")
    soundfile.write(clips / "clip48k.wav", np.clip(wav48, -1, 32767 / 32768), 48000)
    info = {}
    for name, parts in (("clip.flac", flac_parts), ("clip48k.wav", [first("chirp_up")])):
        i = soundfile.info(clips / name)
        info[name] = {"path": str(clips / name), "from": [p.name for p in parts], "format": i.format,
                      "subtype": i.subtype, "sample_rate": i.samplerate, "frames": i.frames}
    return info


AUDIO = r"""
import json, sys, numpy as np, importlib.metadata as md
import soundfile, soxr, cffi
flac, wav48, out = sys.argv[1:4]
x, rate = soundfile.read(flac, dtype="float32")
y, rate48 = soundfile.read(wav48, dtype="float32")
r = soxr.resample(y, rate48, 16000, quality="VHQ")
np.savez(out, flac=x, resampled=r)
maps = ""
try:
    maps = open("/proc/self/maps").read()
except OSError:
    pass
print(json.dumps({
    "flac_rate": rate, "wav48_rate": rate48,
    "libsndfile": soundfile.__libsndfile_version__,
    "libsndfile_path": getattr(soundfile, "_full_path", None),
    "bundled_libsndfile": hasattr(soundfile, "_full_path") and not hasattr(soundfile, "_libname"),
    "libsndfile_mapped": "libsndfile_arm64.so" in maps if maps else None,
    "cffi_backend": __import__("_cffi_backend").__file__,
    "versions": {d: md.version(d) for d in ("numpy", "soundfile", "soxr", "cffi", "pycparser", "ai-edge-litert", "click")},
}))
"""


def audio_reference(clips: dict) -> dict:
    import soundfile
    import soxr

    x, _ = soundfile.read(clips["clip.flac"]["path"], dtype="float32")
    y, rate48 = soundfile.read(clips["clip48k.wav"]["path"], dtype="float32")
    return {"flac": x, "resampled": soxr.resample(y, rate48, 16000, quality="VHQ")}


def max_abs(a: np.ndarray, b: np.ndarray) -> float | None:
    return None if a.shape != b.shape else float(np.max(np.abs(a.astype(np.float64) - b))) if a.size else 0.0


def run_x86(args: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(Path.cwd())}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout)


def predict_tops(json_path: Path) -> dict:
    """{clip file name: [(label, score), ...]} of a `predict --json` file."""
    data = json.loads(json_path.read_text())
    return {Path(c["file"]).name: [(s["label"], s["score"]) for s in c["top"]] for c in data["clips"]}


def compare_predict(arm: dict, x86: dict) -> dict:
    out = {}
    for name, ref in x86.items():
        got = arm.get(name)
        if got is None:
            out[name] = {"passed": False, "error": "missing from the arm output"}
            continue
        # int8 scores are multiples of 1/256, so several classes can share a score (often 0): numpy's argsort may
        # order such ties differently on aarch64 and x86. A rank whose label differs at an identical score is a tie.
        ties = [i for i, (a, b) in enumerate(zip(got, ref)) if a[0] != b[0] and a[1] == b[1]]
        out[name] = {
            "top_arm": [label for label, _ in got],
            "top_x86": [label for label, _ in ref],
            "top1_same": got[0][0] == ref[0][0],
            "topk_order_same": [label for label, _ in got] == [label for label, _ in ref],
            "ranks_differing_only_at_tied_scores": [{"rank": i + 1, "score": got[i][1], "arm": got[i][0], "x86": ref[i][0]}
                                                    for i in ties],
            "max_abs_score_vs_x86": max(abs(a[1] - b[1]) for a, b in zip(got, ref)),
            "passed": got[0][0] == ref[0][0],
        }
    return out


# --- arm side -----------------------------------------------------------------------------------------------------

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


class Arm:
    def __init__(self, qemu: Path, root: Path, python: Path, site: Path):
        self.qemu, self.root, self.python, self.site = qemu, root, python, site

    def run(self, cpu: str, args: list[str], timeout: int = 1800) -> subprocess.CompletedProcess:
        env = {**os.environ, "QEMU_CPU": cpu, "PYTHONPATH": f"{self.site}:{Path.cwd()}", "TF_CPP_MIN_LOG_LEVEL": "3"}
        cmd = [str(self.qemu), "-L", str(self.root), str(self.python), *args]
        try:
            return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(cmd, -1, "", f"timed out after {timeout} s")


def check_model(arm: Arm, cpu: str, precision: str, path: Path, work: Path) -> dict:
    from edgeaudio.runtime.runner import Runner

    probe = arm.run(cpu, ["-c", PROBE, str(path), str(work / f"arm_{cpu}_{precision}.npy")])
    if probe.returncode != 0:
        return {"passed": False, "probe": "FAIL", "error": last_line(probe), "returncode": probe.returncode}
    y = np.load(work / f"arm_{cpu}_{precision}.npy")
    manifest_inputs = np.load(path.with_name(path.name.replace(f"_{precision}.tflite", ".expected.npz")))["inputs"]
    x86 = Runner(path).run(manifest_inputs)[0]
    verify = arm.run(cpu, [*CLI, "verify", str(path)])
    # qemu-user without binfmt cannot start the fresh child process bench normally uses: measure in-process
    bench_json = work / f"bench_{cpu}_{precision}.json"
    bench_json.unlink(missing_ok=True)
    bench = arm.run(cpu, [*CLI, "bench", str(path), "--runs", "5", "--warmup", "1", "--in-process", "--json", str(bench_json)])
    bench_row = json.loads(bench_json.read_text())["rows"][0] if bench.returncode == 0 else None
    return {
        "passed": verify.returncode == 0 and bench.returncode == 0,
        "probe": "PASS",
        "bit_exact_vs_x86": bool(np.array_equal(y, x86)),
        "max_abs_vs_x86": max_abs(y, x86),
        "verify_exit": verify.returncode,
        "verify_output": (verify.stdout.strip().splitlines() or [verify.stderr.strip()])[-1],
        "bench_exit": bench.returncode,
        "bench_error": None if bench.returncode == 0 else last_line(bench),
        "emulated_p50_ms": None if bench_row is None else round(bench_row["p50_ms"], 2),
        "backend": None if bench_row is None else bench_row["backend"],
    }


# The front end against the model it feeds, VGG-Sound preset, one thread, in one process (as frontend_speed.py
# measures it on x86): both run under the same emulation, so their ratio says more than either time.
FRONTEND_RATIO = r"""
import json, statistics, sys, time, numpy as np
from edgeaudio.frontend import PRESETS, clip_to_model_inputs
from edgeaudio.runtime.runner import Runner
model, rounds = sys.argv[1], int(sys.argv[2])
config = PRESETS["vggsound"]
wave = (0.1 * np.random.default_rng(0).standard_normal(config.clip_samples)).astype(np.float32)
runner = Runner(model, threads=1)
runner.run(clip_to_model_inputs(wave, config))
front, net = [], []
for _ in range(rounds):
    t0 = time.perf_counter(); x = clip_to_model_inputs(wave, config)
    t1 = time.perf_counter(); runner.run(x)
    t2 = time.perf_counter(); front.append(t1 - t0); net.append(t2 - t1)
f, m = statistics.median(front) * 1e3, statistics.median(net) * 1e3
print(json.dumps({"front_end_ms": round(f, 2), "int8_model_ms": round(m, 2), "ratio": round(f / m, 3), "rounds": rounds}))
"""
FRONTEND_GOAL = 1 / 3  # the front end at most a third of the int8 model's time (issue: end-to-end latency)


def vggsound_int8_model() -> Path:
    """The VGG-Sound-size int8 model benchmarks/frontend_speed.py caches (built there once if missing)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from frontend_speed import int8_model

    return int8_model(Path(".cache/frontend_speed"))


def frontend_ratio(run, model: Path, rounds: int) -> dict:
    proc = run(["-c", FRONTEND_RATIO, str(model), str(rounds)])
    if proc.returncode != 0:
        return {"error": last_line(proc), "returncode": proc.returncode}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**result, "goal": round(FRONTEND_GOAL, 3), "goal_met": result["ratio"] <= FRONTEND_GOAL}


def check_audio(arm: Arm, cpu: str, clips: dict, reference: dict, work: Path) -> dict:
    out = work / f"audio_{cpu}.npz"
    proc = arm.run(cpu, ["-c", AUDIO, clips["clip.flac"]["path"], clips["clip48k.wav"]["path"], str(out)])
    if proc.returncode != 0:
        return {"passed": False, "error": last_line(proc), "returncode": proc.returncode}
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    got = np.load(out)
    flac_diff = max_abs(got["flac"], reference["flac"])
    soxr_diff = max_abs(got["resampled"], reference["resampled"])
    return {
        "passed": bool(seen["bundled_libsndfile"]) and flac_diff == 0.0 and soxr_diff is not None and soxr_diff <= SOXR_TOLERANCE,
        **seen,
        "flac_read_max_abs_vs_x86": flac_diff,
        "soxr_vhq_48k_to_16k_max_abs_vs_x86": soxr_diff,
        "soxr_tolerance": SOXR_TOLERANCE,
        "resampled_frames": int(got["resampled"].shape[0]),
    }


def predict_x86(model: Path, clips: dict, work: Path, tag: str) -> dict:
    """The x86 reference of `predict MODEL clip.flac clip48k.wav`; each clip alone as well if the pair fails."""
    paths = [clips[n]["path"] for n in ("clip.flac", "clip48k.wav")]
    out = work / f"predict_x86_{tag}.json"
    out.unlink(missing_ok=True)
    proc = run_x86([*CLI, "predict", str(model), *paths, "--json", str(out)])
    if proc.returncode == 0:
        return {"exit": 0, "tops": predict_tops(out)}
    tops, errors = {}, {}
    for p in paths:
        single = work / f"predict_x86_{tag}_{Path(p).name}.json"
        single.unlink(missing_ok=True)
        one = run_x86([*CLI, "predict", str(model), p, "--json", str(single)])
        if one.returncode == 0:
            tops.update(predict_tops(single))
        else:
            errors[Path(p).name] = last_line(one)
    return {"exit": proc.returncode, "error": last_line(proc), "tops": tops, "errors": errors}


def check_predict(arm: Arm, cpu: str, model: Path, clips: dict, x86: dict, work: Path, tag: str) -> dict:
    paths = [clips[n]["path"] for n in ("clip.flac", "clip48k.wav")]
    out = work / f"predict_{cpu}_{tag}.json"
    out.unlink(missing_ok=True)
    command = ["edgeaudio", "predict", Path(model).name, "clip.flac", "clip48k.wav", "--json", out.name]
    proc = arm.run(cpu, [*CLI, "predict", str(model), *paths, "--json", str(out)])
    entry: dict = {"command": " ".join(command), "exit": proc.returncode, "x86_exit": x86["exit"]}
    if proc.returncode == 0:
        tops = predict_tops(out)
    else:  # which clip failed: each alone
        entry["error"] = last_line(proc)
        tops = {}
        for p in paths:
            single = work / f"predict_{cpu}_{tag}_{Path(p).name}.json"
            single.unlink(missing_ok=True)
            one = arm.run(cpu, [*CLI, "predict", str(model), p, "--json", str(single)])
            if one.returncode == 0:
                tops.update(predict_tops(single))
            else:
                entry.setdefault("clip_errors", {})[Path(p).name] = last_line(one)
    clip_results = compare_predict(tops, x86["tops"])
    for name in ("clip.flac", "clip48k.wav"):
        if name not in clip_results:
            clip_results[name] = {"passed": False, "error": entry.get("clip_errors", {}).get(name)
                                  or x86.get("errors", {}).get(name, "no x86 reference"),
                                  "x86_error": x86.get("errors", {}).get(name)}
    entry["clips"] = clip_results
    entry["passed"] = proc.returncode == 0 and x86["exit"] == 0 and all(c["passed"] for c in clip_results.values())
    return entry


def x86_versions(names: list[str]) -> dict:
    versions = {}
    for dist in names:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def check_cpu(arm: Arm, cpu: str, board: str, models: dict, clips: dict, reference: dict, x86_predict: dict,
              vgg_int8: Path, work: Path) -> dict:
    """Every check of one root under qemu as `cpu`: probe, verify and bench per model, audio, predict."""
    entry: dict = {"board": board}
    for precision, path in models.items():
        entry[precision] = check_model(arm, cpu, precision, path, work)
    entry["audio"] = check_audio(arm, cpu, clips, reference, work)
    entry["predict"] = {precision: check_predict(arm, cpu, path, clips, x86_predict[precision], work, precision)
                        for precision, path in models.items()}
    # Recorded, not gated: emulation slows the interpreter's NEON kernels and numpy's FFT by different factors.
    entry["frontend_ratio_emulated"] = frontend_ratio(lambda a: arm.run(cpu, a), vgg_int8, 3)
    steps = {
        "probe": all(entry[p]["probe"] == "PASS" for p in models),
        "verify": all(entry[p].get("verify_exit") == 0 for p in models),
        "bench": all(entry[p].get("bench_exit") == 0 for p in models),
        "soundfile_soxr": entry["audio"]["passed"],
        "predict_flac": all(entry["predict"][p]["clips"]["clip.flac"]["passed"] for p in models),
        "predict_48k": all(entry["predict"][p]["clips"]["clip48k.wav"]["passed"] for p in models),
        "predict_both_clips_one_command": all(entry["predict"][p]["passed"] for p in models),
    }
    entry["steps"] = {k: "PASS" if v else "FAIL" for k, v in steps.items()}
    entry["passed"] = all(steps.values())
    return entry


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--work", default=".cache/arm-check")
    parser.add_argument("--qemu", default=None, help="a qemu-aarch64 >= 10 to use instead of bookworm-backports' one")
    parser.add_argument("--with", dest="extra", action="append", default=[], metavar="REQ",
                        help="an extra requirement on top of pyproject's dependencies (repeatable; recorded)")
    args = parser.parse_args()
    start = time.perf_counter()
    roots = {}
    try:
        ensure_tools()
        qemu, qemu_info = ensure_qemu(QEMU_DIR.resolve(), args.qemu)
        print(f"qemu: {qemu_info['version_line']}", flush=True)
        requirements = base_requirements()
        for release in RELEASES:
            root = (CACHE_DIR / f"arm64-{release}").resolve()
            python = build_root(root, release)
            site, wheels = install_wheels(root, release, [*requirements, *args.extra])
            roots[release] = (Arm(qemu, root, python, site), wheels)
            print(f"resolved for aarch64 {release}: " + ", ".join(f"{d} {v}" for d, v in wheel_versions(wheels).items()), flush=True)
    except ArmCheckError as exc:
        print(f"arm-check cannot run: {exc}", file=sys.stderr)
        return 2
    work = Path(args.work).resolve()
    models = export_models(work)
    clips = write_clips(work)
    reference = audio_reference(clips)
    x86_predict = {precision: predict_x86(path, clips, work, precision) for precision, path in models.items()}
    vgg_int8 = vggsound_int8_model()
    x86_ratio = frontend_ratio(lambda a: run_x86(a, timeout=1800), vgg_int8, 30)

    report = {
        "command": "make arm-check",
        "note": "timings under qemu-user emulation, not device timings",
        "qemu": qemu_info,
        "requirements": {"pyproject_dependencies": requirements, "extra": args.extra},
        "x86_versions": x86_versions(sorted({d for _, w in roots.values() for d in wheel_versions(w)})),
        "clips": clips,
        "frontend_ratio_x86": x86_ratio,
        "x86_predict": {p: {"exit": r["exit"], "error": r.get("error"), "errors": r.get("errors") or None,
                            "top": {n: [label for label, _ in t] for n, t in r["tops"].items()}} for p, r in x86_predict.items()},
        "releases": {},
    }
    failed = False
    for release, (arm, wheels) in roots.items():
        facts = RELEASES[release]
        section = {"debian": release, "python": facts["python"], "glibc": facts["glibc"], "platforms": facts["platforms"],
                   "resolved_aarch64": wheel_versions(wheels), "wheels": wheels, "cpus": {}}
        for cpu, board in CPUS.items():
            entry = check_cpu(arm, cpu, board, models, clips, reference, x86_predict, vgg_int8, work)
            failed |= not entry["passed"]
            section["cpus"][cpu] = entry
            print(json.dumps({release: {cpu: entry}}, indent=2), flush=True)
        section["passed"] = all(e["passed"] for e in section["cpus"].values())
        report["releases"][release] = section
    report["passed"] = not failed
    report["seconds"] = round(time.perf_counter() - start, 1)
    report["cache"] = CACHE_USE
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "arm_check.json").write_text(json.dumps(report, indent=2) + "\n")
    for release, section in report["releases"].items():
        resolved = section["resolved_aarch64"]
        print(f"{release} (Python {section['python']}): {'passed' if section['passed'] else 'FAILED'} with "
              + ", ".join(f"{d} {resolved[d]}" for d in ("ai-edge-litert", "numpy", "soundfile", "soxr") if d in resolved))
    print(f"arm-check {'FAILED' if failed else 'passed'} in {report['seconds']} s under qemu {qemu_info['version']}; "
          "timings are emulated, not device timings")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
