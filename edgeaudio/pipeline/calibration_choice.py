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
BOOTSTRAP_DRAWS = 2000
JUDGING_SAMPLES = 64  # generated samples that judge the tries when the calibration is generated too


def cosine_low(reference: np.ndarray, candidate: np.ndarray, draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> float:
    """The lower end of a 95% bootstrap interval of the cosine the gate measures (over every value of every row):
    the rows drawn again with replacement `draws` times, the 5th percentile of their cosines."""
    ref = np.asarray(reference, np.float64).reshape(len(reference), -1)
    cand = np.asarray(candidate, np.float64).reshape(ref.shape)
    rows = np.random.default_rng(seed).integers(0, len(ref), (draws, len(ref)))
    dot, rr, cc = np.sum(ref * cand, 1), np.sum(ref * ref, 1), np.sum(cand * cand, 1)
    cosines = dot[rows].sum(1) / np.sqrt(rr[rows].sum(1) * cc[rows].sum(1))
    return float(np.percentile(cosines, 5))


@dataclass
class Judged:
    """A try's int8 gate numbers on the judging samples, against the export-form model: the worst output's.
    `cosine_low` is its cosine's 95% lower bound (cosine_low); a try passes when it passes the gate's bounds
    with its cosine above the bound by that much."""

    cosine: float
    agreement: float
    passed: bool
    seconds: float
    failures: list[str]
    cosine_low: float | None = None

    def to_dict(self) -> dict:
        return {"cosine": round(self.cosine, 6), "cosine_low": None if self.cosine_low is None else round(self.cosine_low, 6),
                "agreement": round(self.agreement, 4), "passed": self.passed, "seconds": round(self.seconds, 2),
                "failures": list(self.failures)}

    def summary(self) -> str:
        return f"cos {self.cosine:.4f}, top-1 {100 * self.agreement:.1f}%" + ("" if self.passed else " (fails)")


@dataclass
class CalibrationTry:
    """One range method tried, and how it was judged."""

    method: str
    judged: Judged

    @property
    def passed(self) -> bool:
        return self.judged.passed

    @property
    def cosine(self) -> float:
        return self.judged.cosine

    @property
    def agreement(self) -> float:
        return self.judged.agreement

    def to_dict(self) -> dict:
        return {"method": self.method, **self.judged.to_dict()}

    def summary(self) -> str:
        return f"{self.method} {self.judged.summary()}"


class Judge:
    """The int8 gate of a choice made before the final gate: a try is exported with `trial` (the job) and judged
    on `samples` against `reference_module` (the export-form PyTorch model, float32) under the int8 bounds; the
    held-out samples stay untouched. The user's calibration samples are split, three in four to calibrate a try,
    the fourth to judge it. Generated calibration is free, so there the tries calibrate on every calibration
    sample, as the final file does, and are judged on `fresh` generated samples of their own (JUDGING_SAMPLES):
    sixteen samples of a split judged cosine too loosely to choose by (docs/int8.md)."""

    def __init__(self, job, reference_module, names: list[str], activation: str, factor: float, fresh: np.ndarray | None = None):
        from edgeaudio.pipeline.torch_run import run_module

        samples = np.asarray(job.calibration)
        if fresh is not None:
            self.trial, self.samples = job, np.asarray(fresh)
        else:
            judged = np.arange(len(samples)) % JUDGE_EVERY == JUDGE_EVERY - 1
            self.trial = dataclasses.replace(job, calibration=samples[~judged])
            self.samples = samples[judged]
        self.names = names
        self.reference = dict(zip(names, run_module(reference_module, self.samples)))
        self.bounds = bounds_for("int8", names, activation, {}, factor)

    def check(self, label: str, outputs: list[np.ndarray]) -> ParityCheck:
        """`outputs` (in output order, on `samples`) against the reference under the int8 bounds."""
        pairs = {n: (self.reference[n], out) for n, out in zip(self.names, outputs)}
        return check(label, "export-form PyTorch, float32", pairs, self.bounds)

    def judge(self, label: str, outputs: list[np.ndarray], started: float) -> Judged:
        """check() as a try's figures, timed from `started` (time.perf_counter). The final gate measures the
        cosine on other samples, where a try that passes here by less than this sample's spread fails as often as
        not (measured: docs/int8.md), so a try passes only when its cosine's 95% lower bound meets the bound too."""
        result = self.check(label, outputs)
        worst = min(result.outputs, key=lambda m: m.cosine)
        failures, low = list(result.failures), 1.0
        for name, out, measured in zip(self.names, outputs, result.outputs):
            bound = self.bounds[name].cosine
            if bound is not None:
                lowest = cosine_low(self.reference[name], out)
                low = min(low, lowest)
                if lowest < bound <= measured.cosine:
                    failures.append(f"{name}: cosine {measured.cosine:.6f} is not above {bound:g} with 95% confidence "
                                    f"(lower bound {lowest:.6f})")
        return Judged(worst.cosine, worst.agreement, not failures, time.perf_counter() - started, failures, low)


def try_methods(export, run, judge: Judge, methods: tuple[str, ...]) -> list[CalibrationTry]:
    """Each of `methods`: `export(method, judge.trial)`, its file run (`run(path, inputs)`) on the judging
    samples and checked by `judge`."""
    tries = []
    for method in methods:
        start = time.perf_counter()
        path = export(method, judge.trial)
        tries.append(CalibrationTry(method, judge.judge(f"int8 {method}", run(path, judge.samples), start)))
    return tries


def best(tries: list[CalibrationTry]) -> CalibrationTry:
    """The try that passes with the widest margin (the highest cosine lower bound); when none passes, the widest
    margin too (its final gate will say)."""
    passing = [t for t in tries if t.passed]
    return max(passing or tries, key=lambda t: (t.judged.cosine_low if t.judged.cosine_low is not None else t.cosine, t.cosine, t.agreement))


ROUNDING_ALONE = ("the float model fails the int8 gate from its input rounding alone: no range method can meet it; "
                  "train it to be robust to its input (input noise, mixup, quantisation-aware training) or wider")
CLIPPED_INPUT = 1e-3  # held-out input values beyond the int8 input's range, above which the range is to blame, not the model


@dataclass
class InputRounding:
    """The fp32 twin fed the held-out inputs put on the int8 file's input grid, against itself on the inputs as
    given, under the int8 bounds; and the share of input values that grid clips."""

    check: ParityCheck
    clipped: float

    @property
    def diagnosis(self) -> str | None:
        """What the user should hear at export time, or None when the input grid is not what fails."""
        if self.clipped > CLIPPED_INPUT:
            return (f"its int8 input range, set by the calibration data, clips {self.clipped:.1%} of the held-out input "
                    f"values: calibrate on inputs like the ones the model will see")
        return None if self.check.passed else f"{ROUNDING_ALONE} ({self.check.summary()})"

    def to_dict(self) -> dict:
        return {**self.check.to_dict(), "clipped_input_share": self.clipped, "diagnosis": self.diagnosis}


def input_rounding(int8_path, float_path, held: np.ndarray, names: list[str], activation: str, factor: float,
                   float_outputs: list[np.ndarray] | None = None, threads: int | None = None) -> InputRounding | None:
    """How much of an int8 file's error its input grid alone makes (see InputRounding); None when the int8 file
    takes float input. `float_outputs`: the fp32 file's outputs on `held`, when already run; `threads`: the fp32
    file's runtime threads."""
    from edgeaudio.runtime.diagnosis import input_rounding_outputs
    from edgeaudio.runtime.runner import Runner

    detail = Runner(int8_path).model.inputs[0]
    found = input_rounding_outputs(detail, float_path, held, float_outputs, threads)
    if found is None:
        return None
    step, clean, rounded = found
    info = np.iinfo(np.dtype(detail["dtype"]))
    scale, zero = detail["quantization"]
    low, high = (info.min - zero) * scale, (info.max - zero) * scale
    clipped = float(np.mean((held < low - scale / 2) | (held > high + scale / 2)))
    pairs = {name: (a, b) for name, a, b in zip(names, clean, rounded)}
    bounds = bounds_for("int8", names, activation, {}, factor)
    return InputRounding(check(f"fp32, input on the int8 grid ({step:.3g})", "fp32 twin", pairs, bounds), clipped)
