"""Every model's score for every clip, as `predict` computes it: here, or spread over worker processes.

Clips are decoded once per front end and shared by the models that use it; a clip that cannot be read is
recorded with its reason for every model. Runtime side when every model is an exported file; a checkpoint brings
in torch through edgeaudio.pipeline.torch_predict, imported only then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from edgeaudio.errors import InputError
from edgeaudio.runtime.files import CHECKPOINT_SUFFIXES  # scored in PyTorch; everything else is an exported file


@dataclass(frozen=True)
class ModelSource:
    """What it takes to open one model to score clips, here or in a worker process. `frontend` (a preset) and
    `labels` are for models that record neither (an exported model's manifest states its front end)."""

    path: str
    frontend: str | None = None
    labels: tuple[str, ...] | None = None
    threads: int | None = None


def open_scorer(source: ModelSource, loaded=None):
    """A Predictor (exported model) or CheckpointPredictor (checkpoint, in PyTorch) for `source`."""
    path = Path(source.path)
    if not path.exists():
        raise InputError("no such file", path)
    if path.suffix.lower() in CHECKPOINT_SUFFIXES:
        from edgeaudio.pipeline.torch_predict import CheckpointPredictor

        return CheckpointPredictor(path, source.frontend, list(source.labels) if source.labels else None, source.threads, loaded)
    from edgeaudio.pipeline.predict import Predictor

    return Predictor(path, source.threads, list(source.labels) if source.labels else None)


@dataclass
class ClipScores:
    """Each model's clip scores (clips, classes) on the readable clips, and what happened to the others."""

    scores: list[np.ndarray]
    readable: np.ndarray  # per clip of the set, whether it was scored
    errors: dict[int, str] = field(default_factory=dict)  # clip index -> why it could not be read
    silent: set[int] = field(default_factory=set)  # clip indices scored but holding no sound


def _frontend_groups(scorers) -> list[list[int]]:
    """Models sharing a front end, so a clip is decoded and windowed once for all of them."""
    groups: dict[str, list[int]] = {}
    for i, scorer in enumerate(scorers):
        groups.setdefault(repr(sorted(scorer.frontend.to_dict().items())), []).append(i)
    return list(groups.values())


def score_clip(scorers, groups: list[list[int]], clip) -> tuple[list[np.ndarray] | None, str | None, bool]:
    """(each model's clip probabilities, None, silent) or (None, why it cannot be read, False). The clip is read
    as a stream once per front end, its windows scored batch by batch."""
    from edgeaudio.audio import AudioFormatError
    from edgeaudio.pipeline.clip_stream import ClipStream

    rows: list = [None] * len(scorers)
    silent = False
    for members in groups:
        sums: dict[int, np.ndarray] = {}
        count = 0
        try:
            stream = ClipStream.of_file(clip, scorers[members[0]].frontend)
            for windows, _ in stream.batches():
                count += len(windows)
                for m in members:
                    total = scorers[m].window_probabilities(windows).astype(np.float64).sum(axis=0)
                    sums[m] = sums[m] + total if m in sums else total
        except AudioFormatError as exc:
            return None, exc.problem, False
        silent = silent or stream.silent() is not None
        for m in members:
            rows[m] = (sums[m] / count).astype(np.float32)
    return rows, None, silent


_WORKER: dict = {}


def _worker_start(sources: list[ModelSource]) -> None:
    scorers = [open_scorer(s) for s in sources]
    _WORKER.update(scorers=scorers, groups=_frontend_groups(scorers))


def _worker_chunk(items: list[tuple[int, str]]) -> list[tuple[int, list | None, str | None, bool]]:
    return [(i, *score_clip(_WORKER["scorers"], _WORKER["groups"], clip)) for i, clip in items]


def score_clips(sources: list[ModelSource], scorers, clips: list[Path], workers: int = 1,
                progress: Callable[[int], None] = lambda _n: None) -> ClipScores:
    """Score every clip with every model: here (workers 1) or spread over `workers` processes, each with its
    own copy of the models on one thread. `progress(n)` is called as n more clips finish."""
    n = len(clips)
    rows: list[list | None] = [None] * n
    errors: dict[int, str] = {}
    silent: set[int] = set()

    def take(i: int, scored, problem, quiet) -> None:
        if problem is not None:
            errors[i] = problem
        else:
            rows[i] = scored
            if quiet:
                silent.add(i)

    if workers <= 1 or n < 2:
        groups = _frontend_groups(scorers)
        for i, clip in enumerate(clips):
            take(i, *score_clip(scorers, groups, clip))
            progress(1)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        one_thread = [ModelSource(s.path, s.frontend, s.labels, 1) for s in sources]
        chunk = max(1, min(16, n // (4 * workers)))
        items = [(i, str(c)) for i, c in enumerate(clips)]
        # spawn, not fork: the parent may hold torch's or an interpreter's threads, which fork does not copy safely
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_start,
                                 initargs=(one_thread,)) as pool:
            futures = [pool.submit(_worker_chunk, items[k : k + chunk]) for k in range(0, n, chunk)]
            try:
                for future in as_completed(futures):
                    done = future.result()
                    for i, scored, problem, quiet in done:
                        take(i, scored, problem, quiet)
                    progress(len(done))
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    readable = np.array([r is not None for r in rows])
    scores = [np.stack([r[m] for r in rows if r is not None]) if readable.any() else np.zeros((0, 0)) for m in range(len(sources))]
    return ClipScores(scores, readable, errors, silent)
