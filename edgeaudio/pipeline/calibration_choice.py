"""--calib-method auto: when an int8 file made with min-max ranges fails its gate, try the target's other range
methods and keep the best, each judged on calibration samples it was not calibrated on, never on the held-out
samples the final gate uses (choosing on those would make the final gate a test of the choice itself)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from edgeaudio.parity import ParityCheck, check
from edgeaudio.pipeline.gates import bounds_for

JUDGE_EVERY = 4  # every fourth calibration sample judges the tries; the other three calibrate them


@dataclass
class CalibrationTry:
    """One range method tried: the int8 gate's numbers on the judging samples, against the export-form model."""

    method: str
    cosine: float
    agreement: float
    passed: bool
    seconds: float
    failures: list[str]

    def to_dict(self) -> dict:
        return {"method": self.method, "cosine": round(self.cosine, 6), "agreement": round(self.agreement, 4),
                "passed": self.passed, "seconds": round(self.seconds, 2), "failures": list(self.failures)}

    def summary(self) -> str:
        return f"{self.method} cos {self.cosine:.4f}, top-1 {100 * self.agreement:.1f}%" + ("" if self.passed else " (fails)")


def try_methods(export, run, job, methods: tuple[str, ...], reference_module, names: list[str], activation: str,
                factor: float) -> list[CalibrationTry]:
    """Each of `methods`: `export(method, job)` on a job calibrating on three calibration samples in four, its
    file run (`run(path, inputs)`) on the fourth, judged by the int8 bounds against `reference_module` (the
    export-form PyTorch model, float32)."""
    from edgeaudio.pipeline.torch_run import run_module

    samples = np.asarray(job.calibration)
    judged = np.arange(len(samples)) % JUDGE_EVERY == JUDGE_EVERY - 1
    trial = dataclasses.replace(job, calibration=samples[~judged])
    reference = dict(zip(names, run_module(reference_module, samples[judged])))
    bounds = bounds_for("int8", names, activation, {}, factor)
    tries = []
    for method in methods:
        start = time.perf_counter()
        path = export(method, trial)
        outputs = dict(zip(names, run(path, samples[judged])))
        result: ParityCheck = check(f"int8 {method}", "export-form PyTorch, float32", {n: (reference[n], outputs[n]) for n in names}, bounds)
        worst = min(result.outputs, key=lambda m: m.cosine)
        tries.append(CalibrationTry(method, worst.cosine, worst.agreement, result.passed, time.perf_counter() - start, result.failures))
    return tries


def best(tries: list[CalibrationTry]) -> CalibrationTry:
    """The try that passes with the highest cosine; when none passes, the highest cosine (its final gate will say)."""
    passing = [t for t in tries if t.passed]
    return max(passing or tries, key=lambda t: (t.cosine, t.agreement))
