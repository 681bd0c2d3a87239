"""Bench and verify on devices over SSH, side by side: the same `edgeaudio bench` / `edgeaudio verify` a user would
run on each board, run there by its own runtime-only edgeaudio, its JSON brought back with the device's facts.

Rows are model x device x threads (x batch); a device that failed has one error row. Exit status as predict's:
0 every device gave results, 1 some did, 2 none did.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from edgeaudio.devices.config import DEFAULT_TIMEOUT, Device
from edgeaudio.devices.remote import DeviceRun, Remote, bundle_of, run_on_devices
from edgeaudio.devices.ssh import require_ssh_library
from edgeaudio.errors import InputError
from edgeaudio.pipeline.bench import BenchSettings, check_benchable
from edgeaudio.runtime.files import EXPORTED_SUFFIXES

SCHEMA = "edgeaudio.fleet/1"


@dataclass
class FleetReport:
    """One command's runs on every device. `kind` is "bench" or "verify"; each run's `result` is the device's
    own edgeaudio.bench/1 report or verify result."""

    kind: str
    runs: list[DeviceRun]
    settings: dict = field(default_factory=dict)

    @property
    def exit_status(self) -> int:
        ok = sum(run.ok for run in self.runs)
        if ok == 0:
            return 2
        failed = ok < len(self.runs) or (self.kind == "verify" and not all(r.result["passed"] for r in self.runs if r.ok))
        return 1 if failed else 0

    def rows(self) -> list[dict]:
        """Flat rows: per device and bench row (model, threads, batch) or per device (verify), with the device's
        facts; a failed device's row holds its error."""
        out = []
        for run in self.runs:
            facts = _fact_columns(run)
            if not run.ok:
                out.append({"device": run.device.name, "status": "error", "error": run.error, **facts})
            elif self.kind == "bench":
                for row in run.result["rows"]:
                    out.append({"device": run.device.name, "status": "ok", **row, **facts})
            elif self.kind == "bench-audio":
                for result in run.result["results"]:
                    out.append({"device": run.device.name, "status": "ok", **result, **facts})
            else:
                out.append({"device": run.device.name, "status": "PASS" if run.result["passed"] else "FAIL",
                            "model": run.result["model"], "format": run.result["format"],
                            "precision": run.result["precision"], "backend": run.result["backend"],
                            "failures": "; ".join(run.result["check"].get("failures", [])), **facts})
        return out

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "kind": self.kind, "settings": self.settings,
                "devices": [run.to_dict() for run in self.runs], "rows": self.rows()}


def _fact_columns(run: DeviceRun) -> dict:
    f = run.facts
    if f is None:
        return {"address": run.device.address}
    before, after = f.before, f.after
    return {"address": run.device.address, "board": f.board, "cpu": f.cpu, "arch": f.arch, "cores": f.cores,
            "governor": f.governor, "mem_available_mb": f.mem_available_mb, "os": f.os, "python": f.python,
            "interpreter": f.interpreter, "device_edgeaudio": f.edgeaudio,
            "device_temp_before_c": before and before.hottest_c, "device_temp_after_c": after and after.hottest_c,
            "throttled_before": before and before.throttled, "throttled_after": after and after.throttled,
            "throttled_during": f.throttled_during, "uploaded_bytes": run.uploaded_bytes}


def _exported(models: list[str | os.PathLike]) -> list[Path]:
    check_benchable(models)
    paths = [Path(m) for m in models]
    for path in paths:
        if path.suffix.lower() not in EXPORTED_SUFFIXES:
            raise InputError(f"a device runs exported models ({', '.join(EXPORTED_SUFFIXES)}), not checkpoints: "
                             "export it first (edgeaudio export)", path)
    return paths


def bench_on_devices(models: list[str | os.PathLike], settings: BenchSettings, devices: list[Device],
                     timeout: float = DEFAULT_TIMEOUT, progress: Callable[[str], None] = lambda _m: None,
                     audio: str | os.PathLike | None = None) -> FleetReport:
    """`edgeaudio bench MODELS` with `settings` on every device, its models (and --data) uploaded once per
    content hash. With `audio`, `bench MODELS --audio CLIP` instead: audio in to labels out, stage by stage, on
    each device (kind "bench-audio")."""
    if settings.eval_data is not None or settings.labels is not None:
        raise InputError("--eval and --labels are not taken with --device: evaluate accuracy here (edgeaudio eval); "
                         "a device's verify proves it computes the same outputs")
    paths = _exported(models)
    data = Path(settings.data) if settings.data else None
    clip = Path(audio) if audio is not None else None
    for path in (data, clip):
        if path is not None and not path.is_file():
            raise InputError("no such file", path)

    async def job(remote: Remote) -> dict:
        remote_models = [f"{await remote.upload(bundle_of(p))}/{p.name}" for p in paths]
        if clip is not None:
            threads = [] if settings.threads == (None,) else ["--threads", ",".join(map(str, settings.threads))]
            args = ["--audio", f"{await remote.upload([clip])}/{clip.name}", "--runs", str(settings.runs),
                    "--warmup", str(settings.warmup), *threads]
        else:
            args = settings.command_line() + (["--data", f"{await remote.upload([data])}/{data.name}"] if data else [])
        report = await remote.edgeaudio(["bench", *remote_models, *args])
        names = {remote_path: str(local) for remote_path, local in zip(remote_models, paths)}
        for row in report.get("rows", report.get("results", [])):
            row["model"] = names.get(row.get("model"), row.get("model"))
        if clip is not None:
            report["clip"] = str(clip)
        return report

    require_ssh_library()
    progress(f"benching {len(paths)} model(s) on {len(devices)} device(s) over SSH")
    kind = "bench" if clip is None else "bench-audio"
    return FleetReport(kind, run_on_devices(devices, job, timeout, progress), settings.to_dict())


def verify_on_devices(model: str | os.PathLike, devices: list[Device], threads: int | None = None,
                      timeout: float = DEFAULT_TIMEOUT, progress: Callable[[str], None] = lambda _m: None) -> FleetReport:
    """`edgeaudio verify MODEL` on every device: its own interpreter against the outputs recorded at export, under
    the manifest's bounds. A device's parity failure is a result (FAIL), not an error."""
    (path,) = _exported([model])

    async def job(remote: Remote) -> dict:
        remote_model = f"{await remote.upload(bundle_of(path))}/{path.name}"
        args = ["verify", remote_model, *(["--threads", str(threads)] if threads else [])]
        result = await remote.edgeaudio(args, ok_statuses=(0, 1))
        result["model"] = str(path)
        return result

    require_ssh_library()
    progress(f"verifying {path.name} on {len(devices)} device(s) over SSH")
    return FleetReport("verify", run_on_devices(devices, job, timeout, progress), {"threads": threads})
