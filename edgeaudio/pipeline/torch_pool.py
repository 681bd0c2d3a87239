"""Many PyTorch model runs shared out among threads, batch by batch: the parity gate's model runs (the float64
original, the float32 noise-floor draws, the fold's float64 check, the export-form model) need nothing from each
other, so they form one queue of batches that every worker thread takes from until it is empty.

Why threads with one intra-op thread each, in small batches (measured on the VGG-Sound-size model, one thread,
ms a sample, batch 1 / 2 / 8: original float32 135 / 130 / 163, folded float32 133 / 102 / 140, float64 282 /
312 / 468, folded float64 274 / 220 / 256): a 512x128 input's activations at batch 8 no longer fit the caches,
and independent runs keep every core busy without the per-op barriers of intra-op threads, which leave cores
idle on small tensors and stall whole ops on a loaded machine. One queue of batches keeps the workers even: the
last batch taken, not the longest job, decides when they are done.

A batch's result does not depend on which worker computes it (each has one intra-op thread), so the outputs are
the same whatever the number of workers (tested).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

GATE_BATCH = 2  # samples a batch: see the module docstring


@dataclass
class ModelRun:
    """`forward` (a batch tensor in, a tensor or tuple of tensors out) on `inputs`, `batch` samples at a time."""

    forward: Callable[[torch.Tensor], torch.Tensor | tuple]
    inputs: np.ndarray
    batch: int = GATE_BATCH

    def starts(self) -> range:
        return range(0, len(self.inputs), self.batch)


class Stopped(Exception):
    """run_pooled was told to stop before every batch was computed."""


def run_pooled(runs: Sequence[ModelRun], workers: int | None = None, stop: threading.Event | None = None) -> list[list[np.ndarray]]:
    """Each run's outputs (one array per output, over all its inputs), the batches of every run computed by
    `workers` threads (default: PyTorch's thread count) taking from one queue, in the order given: put the
    dearest batches first. Each worker has one intra-op thread; the caller's thread count is restored. Once
    `stop` is set, no worker takes another batch and Stopped is raised: a thread inside PyTorch cannot be
    stopped, so this is how the caller gets its threads back within one batch."""
    queue = [(r, start) for r, run in enumerate(runs) for start in run.starts()]
    results: dict[tuple[int, int], list[np.ndarray]] = {}
    lock, errors = threading.Lock(), []
    position = iter(queue)

    @torch.no_grad()
    def work() -> None:
        torch.set_num_threads(1)  # OpenMP's thread count is per calling thread: set it in each worker
        while not errors:
            with lock:
                item = None if stop is not None and stop.is_set() else next(position, None)
            if item is None:
                return
            r, start = item
            run = runs[r]
            try:
                out = run.forward(torch.from_numpy(np.ascontiguousarray(run.inputs[start : start + run.batch])))
            except BaseException as exc:  # raised on the caller's thread
                errors.append(exc)
                return
            results[item] = [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]

    threads = torch.get_num_threads()
    count = max(1, min(workers or threads, len(queue)))
    try:
        if count == 1:
            work()
        else:
            pool = [threading.Thread(target=work, name=f"edgeaudio-torch-{i}", daemon=True) for i in range(count)]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()
    finally:
        torch.set_num_threads(threads)
    if errors:
        raise errors[0]
    if len(results) < len(queue):
        raise Stopped(f"stopped after {len(results)} of {len(queue)} batches")
    return [_joined([results[(r, start)] for start in run.starts()]) for r, run in enumerate(runs)]


def _joined(batches: list[list[np.ndarray]]) -> list[np.ndarray]:
    return [np.concatenate([b[i] for b in batches]) for i in range(len(batches[0]))] if batches else []
