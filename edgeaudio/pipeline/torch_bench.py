"""Benchmark rows of a checkpoint in PyTorch eager (training form or folded): the workstation side of `bench`.

The measuring loop is the runtime's (edgeaudio.runtime.bench.measure); this module only loads the checkpoint,
so the runtime layer, which runs on a device, never imports the checkpoint loader, the fold or torch. Run as
`python -m edgeaudio.pipeline.torch_bench SPEC` it is the child process that measures one checkpoint row.
"""

from __future__ import annotations

import sys
from pathlib import Path

from edgeaudio.runtime.bench import bench_inputs, measure_main


def prepare_checkpoint(path: Path, threads: int | None, batch: int, data: str | None, spec: dict):
    """Load a checkpoint for timing: (invoke callable, facts). spec["fold"] times the folded model instead of
    the form the file holds."""
    import torch

    from edgeaudio.checkpoint import load_checkpoint
    from edgeaudio.counting import count_model
    from edgeaudio.fold import fold_model

    fold = bool(spec.get("fold", False))
    if threads:
        torch.set_num_threads(threads)
    loaded = load_checkpoint(path)
    model = fold_model(loaded.model) if fold else loaded.model.eval()
    cfg = loaded.config
    x = torch.from_numpy(bench_inputs(tuple(cfg.input_shape[1:]), batch, data))
    counts = count_model(model, cfg.input_shape)
    facts = {
        "format": "torch",
        "backend": f"torch {torch.__version__} eager",
        "delegate": None,
        "input_dtype": "float32",
        "output_dtype": "float32",
        "params": counts.params,
        "macs": counts.macs * batch,
        "precision": "fp32 folded" if fold else f"fp32 {loaded.form}",
    }

    def invoke():
        with torch.no_grad():
            model(x)

    return invoke, facts


if __name__ == "__main__":
    raise SystemExit(measure_main(sys.argv[1:], prepare_checkpoint))
