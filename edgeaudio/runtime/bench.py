"""Benchmarking one model per fresh process: load time, first inference, latency spread, throughput, memory.

`bench_models` runs each model in its own child process (`python -m edgeaudio.runtime.bench SPEC`), so one
model's memory does not colour another's, and an interpreter that crashes on a bad file costs a row, not the
run. The child times the inference call alone (input set once, as TFLite's benchmark_model does) and reads
its own resident memory from /proc: before loading, after loading, and its peak.

Report schema (one BenchRow per model; JSON is {"machine": MachineInfo, "rows": [BenchRow]}): see the
dataclasses below, whose field names are the JSON keys.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from edgeaudio.errors import InputError
from edgeaudio.runtime.formats import require_format


@dataclass
class MachineInfo:
    cpu: str
    arch: str
    cores: int
    python: str
    board: str | None = None  # Raspberry Pi model, from the device tree
    clock_mhz: float | None = None
    temperature_c: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class BenchRow:
    model: str
    format: str
    precision: str
    backend: str
    delegate: str | None
    threads: int | None
    batch: int
    file_mb: float | None
    params: int | None
    macs: int | None
    input_dtype: str
    output_dtype: str
    load_ms: float
    first_ms: float
    runs: int
    mean_ms: float
    std_ms: float
    min_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    throughput_per_s: float
    peak_rss_mb: float
    model_rss_mb: float
    temp_before_c: float | None = None
    temp_after_c: float | None = None
    label: str | None = None
    parity: str | None = None  # the file's parity verdict against the original (bench CKPT --formats, or its manifest)
    accuracy: dict | None = None  # with --eval: metric, value, low, high, drop against the first row's model, p_worse
    extra: dict = field(default_factory=dict)
    timeline: list[dict] | None = None  # with --sustained: per window of the run, {t_s, runs, p50_ms, temp_c}
    profile: list[dict] | None = None  # with --profile: time per op, slowest first (edgeaudio.runtime.op_profile)

    def to_dict(self) -> dict:
        return asdict(self)


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip("\x00\n ")
    except OSError:
        return None


def temperature_c() -> float | None:
    """SoC temperature (Raspberry Pi and most Linux boards), or None where the machine does not tell."""
    raw = _read("/sys/class/thermal/thermal_zone0/temp")
    return round(int(raw) / 1000, 1) if raw and raw.lstrip("-").isdigit() else None


def machine_info() -> MachineInfo:
    cpu = platform.processor() or ""
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        key = line.split(":", 1)[0].strip()
        if key in ("model name", "Model", "Hardware") and ":" in line:
            cpu = line.split(":", 1)[1].strip()
            if key == "model name":
                break
    clock = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
    return MachineInfo(
        cpu=cpu or "unknown",
        arch=platform.machine(),
        cores=os.cpu_count() or 1,
        python=platform.python_version(),
        board=_read("/proc/device-tree/model"),
        clock_mhz=round(int(clock) / 1000, 1) if clock and clock.isdigit() else None,
        temperature_c=temperature_c(),
    )


def _rss_mb(field_name: str) -> float:
    """VmRSS (current) or VmHWM (peak) of this process, in MB."""
    for line in (_read("/proc/self/status") or "").splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_inputs(shape: tuple[int, ...], batch: int, data: str | None) -> np.ndarray:
    """float32 inputs of one sample's `shape` (C, T, F or samples): the user's .npy, or synthetic ones."""
    if data:
        x = np.load(data, allow_pickle=False).astype(np.float32)
        return x[:batch] if len(x) >= batch else np.resize(x, (batch, *x.shape[1:]))
    from edgeaudio.synthetic import synthetic_inputs

    return synthetic_inputs(batch, tuple(shape), seed=0)


def prepare_exported(path: Path, threads: int | None, batch: int, data: str | None, spec: dict):
    """Load an exported model (any format in the registry): (invoke callable, facts dict). Every import happens
    here, in the process that measures; the graph is counted as exported, before any resize to `batch`."""
    from edgeaudio.runtime.runner import Runner

    runner = Runner(path, threads)
    facts = runner.model.bench_facts(batch)
    invoke = runner.prepared(bench_inputs(runner.input_sample_shape, batch, data))
    return invoke, {"format": runner.format, "backend": runner.backend, **facts}


def measure(spec: dict, prepare: Callable = prepare_exported) -> dict:
    """Benchmark one model in this process per `spec`; returns a BenchRow as a dict.

    `prepare(path, threads, batch, data, spec)` loads the model and returns (invoke, facts): prepare_exported for
    exported files; the pipeline layer passes its own for checkpoints (edgeaudio.pipeline.torch_bench)."""
    path = Path(spec["path"])
    found = require_format(path) if prepare is prepare_exported else None
    threads, batch = spec.get("threads"), int(spec.get("batch", 1))
    if found is not None:  # so that "+model MB" is the model's, not the runtime library's
        found.import_runtime()
    else:
        import torch  # noqa: F401  (a checkpoint's runtime, likewise)
    rss_before = _rss_mb("VmRSS")
    temp_before = temperature_c()
    start = time.perf_counter()
    invoke, facts = prepare(path, threads, batch, spec.get("data"), spec)
    load_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    invoke()
    first_ms = (time.perf_counter() - start) * 1000
    for _ in range(int(spec.get("warmup", 10))):
        invoke()
    times: list[float] = []
    runs, duration = int(spec.get("runs", 50)), float(spec.get("duration") or 0)
    timeline = Timeline(duration) if spec.get("timeline") else None
    began = time.perf_counter()
    deadline = began + duration
    while len(times) < runs or (duration and time.perf_counter() < deadline):
        t0 = time.perf_counter()
        invoke()
        t1 = time.perf_counter()
        times.append((t1 - t0) * 1000)
        if timeline is not None:
            timeline.add(t1 - began, times[-1])
    ordered = sorted(times)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]

    peak = _rss_mb("VmHWM")
    manifest_precision = spec.get("precision")
    row = BenchRow(
        model=str(path),
        format=facts["format"],
        precision=facts.get("precision") or manifest_precision or facts["input_dtype"],
        backend=facts["backend"],
        delegate=facts["delegate"],
        threads=threads,
        batch=batch,
        file_mb=round(path.stat().st_size / 1e6, 3),
        params=facts["params"],
        macs=facts["macs"],
        input_dtype=facts["input_dtype"],
        output_dtype=facts["output_dtype"],
        load_ms=load_ms,
        first_ms=first_ms,
        runs=len(times),
        mean_ms=statistics.fmean(times),
        std_ms=statistics.pstdev(times),
        min_ms=ordered[0],
        p50_ms=pct(50),
        p90_ms=pct(90),
        p99_ms=pct(99),
        max_ms=ordered[-1],
        throughput_per_s=1000 * batch / statistics.fmean(times),
        peak_rss_mb=peak,
        model_rss_mb=max(peak - rss_before, 0.0),
        temp_before_c=temp_before,
        temp_after_c=temperature_c(),
        label=spec.get("label"),
        timeline=None if timeline is None else timeline.windows(),
    )
    if spec.get("profile") and path.suffix.lower() == ".tflite":  # the op profile reads TFLite's own schema
        from edgeaudio.runtime.op_profile import profile_ops

        row.profile = profile_ops(path, threads)
    return row.to_dict()


class Timeline:
    """Latency and SoC temperature over a sustained run, in about 20 windows (at least half a second each), so a
    device that throttles shows it as latency rising with temperature."""

    def __init__(self, duration: float):
        self.width = max(duration / 20, 0.5)
        self.last = max(int(duration / self.width) - 1, 0)  # the run that crosses the deadline counts in the last window
        self.buckets: dict[int, list[float]] = {}
        self.temps: dict[int, float | None] = {}

    def add(self, t: float, ms: float) -> None:
        window = min(int(t / self.width), self.last)
        if window not in self.buckets:
            self.buckets[window] = []
            self.temps[window] = temperature_c()  # once per window: a sysfs read, negligible beside an inference
        self.buckets[window].append(ms)

    def windows(self) -> list[dict]:
        return [{"t_s": round(w * self.width, 2), "runs": len(ms), "p50_ms": statistics.median(ms), "temp_c": self.temps[w]}
                for w, ms in sorted(self.buckets.items())]


def bench_in_child(spec: dict, timeout: float = 1800, module: str = "edgeaudio.runtime.bench") -> BenchRow:
    """Run `measure(spec)` in a fresh Python process (`python -m module SPEC`, a module whose main is
    measure_main); a crash or a bad file becomes an InputError naming it."""
    proc = subprocess.run([sys.executable, "-m", module, json.dumps(spec)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode == 0 and lines:
        return BenchRow(**json.loads(lines[-1]))
    if proc.returncode < 0:
        raise InputError(f"the interpreter crashed on it (signal {-proc.returncode})", spec["path"])
    message = next((line for line in reversed(proc.stderr.splitlines()) if line.strip()), "benchmark failed")
    raise InputError(message.replace("edgeaudio: error: ", "").split(": ", 1)[-1], spec["path"])


def measure_main(argv: list[str], prepare: Callable = prepare_exported) -> int:
    """A measuring child's main: measure the JSON spec in argv[0], print the row as one JSON line."""
    from edgeaudio.errors import EdgeAudioError

    try:
        print(json.dumps(measure(json.loads(argv[0]), prepare)), flush=True)
        return 0
    except EdgeAudioError as exc:
        print(f"edgeaudio: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(measure_main(sys.argv[1:]))
