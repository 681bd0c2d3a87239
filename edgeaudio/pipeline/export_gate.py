"""The parity gate of one export: the original model's float64 outputs on the held-out samples, the floors the
float bounds come from, and one call that judges any file's outputs against them, whatever wrote the file.

The gate is measured in PyTorch (measure_gate) and needs nothing the conversions make, and the conversions need
only the export-form module: GateAlongside measures it in a thread of its own while the files are written, and
the first judgement waits for it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from edgeaudio.parity import ParityCheck, check
from edgeaudio.pipeline.gates import FOLD_EXACT, bounds_for, float_basis, fold_exact_bounds, noise_floor

# The fold's float64 check runs on this many of the held-out samples: a fold mistake (a kernel in the wrong place,
# a shifted padding, a lost branch) moves every output, while a correct fold is exact to 1e-15 on any input; the
# float32 steps, which rounding can move on one sample alone, are judged on every held-out sample.
FOLD_CHECK_SAMPLES = 16

REFERENCE = "original PyTorch, float64"


@dataclass
class ExportGate:
    names: list[str]  # output names, in order
    activation: str  # the head's: softmax or sigmoid
    exact: dict[str, np.ndarray]  # the original in float64 on the held-out samples
    floors: dict[str, dict[str, float]]  # per precision (int8 is judged by agreement: no floor)
    factor: float
    overridden: bool  # the factor was set by the user
    progress: Callable[[str], None] = lambda _m: None
    chain: list[ParityCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(step.passed for step in self.chain)

    def judge(self, step: str, precision: str, outputs: list[np.ndarray]) -> ParityCheck:
        """`outputs` (in output order) of the step called `step`, at `precision`, against the float64 original;
        added to the chain and returned."""
        return self.add(self.measure(step, precision, outputs))

    def measure(self, step: str, precision: str, outputs: list[np.ndarray]) -> ParityCheck:
        """judge() without adding to the chain: for a file that may yet be made again another way."""
        pairs = {name: (self.exact[name], out) for name, out in zip(self.names, outputs)}
        floor = self.floors.get(precision, {})
        basis = {"fp32": float_basis(self.factor, self.overridden),
                 "fp16": float_basis(self.factor, self.overridden, "fp16-weight floor")}.get(precision, "")
        return check(step, REFERENCE, pairs, bounds_for(precision, self.names, self.activation, floor, self.factor), floor, basis)

    def judge_exact(self, step: str, outputs: dict[str, np.ndarray]) -> ParityCheck:
        """A float64 computation that must equal the original to FOLD_EXACT (the fold's own error), on the first
        held-out samples (as many as `outputs` has)."""
        pairs = {name: (self.exact[name][: len(outputs[name])], outputs[name]) for name in self.names}
        return self.add(check(step, REFERENCE, pairs, fold_exact_bounds(self.names), basis=f"exact to {FOLD_EXACT:g}"))

    def add(self, result: ParityCheck) -> ParityCheck:
        self.chain.append(result)
        self.progress(f"  {result.step}: " + ("pass" if result.passed else "FAIL " + "; ".join(result.failures)))
        return result


def measure_gate(source, options, stages, stop: threading.Event | None = None) -> ExportGate:
    """The reference and floors for `source` (an ExportSource), and the chain's PyTorch steps judged: the fold in
    float64 (exact) and the export-form module in float32. Every PyTorch run of the gate shares one pool of
    threads (torch_pool.py), the dearest batches first; setting `stop` ends it within one batch (torch_pool.Stopped)."""
    from edgeaudio.pipeline.export_source import deploy_form
    from edgeaudio.pipeline.reference import ReferenceRuns, as_float64, with_half_weights
    from edgeaudio.pipeline.torch_pool import ModelRun, run_pooled

    held = source.data.held_out
    names = list(source.description.output_names)
    reference = ReferenceRuns(source.loaded.model, held, source.output, as_float64(source.loaded.model))
    folded64 = stages.run("fold float64", "folding a float64 copy (the fold's own error, apart from float32 rounding)",
                          deploy_form, reference.model64, options.equalize) if options.fold else None
    also = {"its fold in float64": ModelRun(folded64, held[:FOLD_CHECK_SAMPLES].astype(np.float64))} if folded64 is not None else {}
    also["the export-form model"] = ModelRun(source.module, held)  # cheap batches last: the pool's tail stays short
    if source.plan.makes("fp16"):
        also["it with float16 weights"] = ModelRun(with_half_weights(source.module), held)
    with reference.outputs_set(*([folded64] if folded64 is not None else [])):
        outputs = stages.run("reference", f"running the original in float64 and float32, {', '.join(also)} in PyTorch on "
                             f"{len(held)} held-out samples", run_pooled, [*reference.runs, *also.values()], stop=stop)
    measured = reference.reference(outputs[: len(reference.runs)])
    got = dict(zip(also, outputs[len(reference.runs):]))
    floors = {"fp32": measured.noise_floor}
    if "it with float16 weights" in got:
        floors["fp16"] = noise_floor(measured.exact, dict(zip(names, got["it with float16 weights"])))
    gate = ExportGate(names, source.description.activation, measured.exact, floors, options.factor,
                      options.float_factor is not None, stages.progress)
    if folded64 is not None:
        gate.judge_exact("fold + equalize, float64" if options.equalize else "fold, float64", dict(zip(names, got["its fold in float64"])))
    gate.judge("PyTorch folded" if options.fold else "PyTorch (export form)", "fp32", got["the export-form model"])
    return gate


class GateAlongside:
    """measure_gate(source, options, stages) run in a thread of its own while the `with` block runs; result()
    waits for it and returns the ExportGate (or raises what measure_gate raised). `waited` is how long result()
    calls blocked.

    When the block fails or is interrupted, leaving it stops the gate and waits for its thread, which ends within
    one batch of its pool: a thread inside PyTorch cannot be stopped, and one left running would go on computing
    beside whatever the caller does next (a process ending while it is inside PyTorch aborts)."""

    def __init__(self, source, options, stages):
        import torch

        self._stop = threading.Event()
        self._done = threading.Event()
        self._gate: ExportGate | None = None
        self._error: BaseException | None = None
        self.waited = 0.0
        threads = torch.get_num_threads()  # the caller's, which a new thread does not inherit
        self._thread = threading.Thread(target=self._run, args=(source, options, stages, threads), name="edgeaudio-gate",
                                        daemon=True)

    def __enter__(self) -> "GateAlongside":
        self._thread.start()
        return self

    def __exit__(self, kind, _error, _traceback) -> None:
        if kind is not None:
            self._stop.set()
            self._thread.join()

    def _run(self, source, options, stages, threads: int) -> None:
        import torch

        try:
            torch.set_num_threads(threads)  # the reference shares them out among its jobs, as on the caller's thread
            self._gate = measure_gate(source, options, stages, self._stop)
        except BaseException as exc:  # handed to the thread that judges, raised there
            self._error = exc
        finally:
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def result(self) -> ExportGate:
        start = time.perf_counter()
        self._done.wait()
        self.waited += time.perf_counter() - start
        if self._error is not None:
            raise self._error
        return self._gate
