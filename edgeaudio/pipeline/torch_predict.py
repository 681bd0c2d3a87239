"""A checkpoint scoring clips in PyTorch exactly as an exported model scores them in `predict`: the same front
end, the same windows, the eval-mode head's probabilities, the clip's score the mean of its windows'.

The workstation side of `eval` (and of `export --eval`): torch is needed, so only the commands that were given a
checkpoint import this module.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgeaudio.errors import InputError


class CheckpointPredictor:
    """A checkpoint in eval mode with its front end and class names, ready for clips (see Predictor).

    The front end is the one `preset` names, or what the checkpoint records or its cfg states (as export chooses
    it); the class names are `labels`, or those the checkpoint records. `loaded` reuses a checkpoint already
    read (export --eval)."""

    def __init__(self, path: str | os.PathLike, frontend: str | None = None, labels: list[str] | None = None,
                 threads: int | None = None, loaded=None):
        import torch

        from edgeaudio.checkpoint import load_checkpoint
        from edgeaudio.pipeline.data import choose_frontend

        if threads:
            torch.set_num_threads(threads)
        self.path = Path(path)
        self.loaded = loaded if loaded is not None else load_checkpoint(self.path)
        config = self.loaded.config
        if len(config.num_classes) != 1:
            raise InputError(f"has {len(config.num_classes)} heads; eval scores single-head models", self.path)
        shape = tuple(config.input_shape[1:])
        spec = self.loaded.spec
        default = spec.default_frontend(config) if spec.default_frontend else None
        choice = choose_frontend(frontend, self.loaded.meta, self.loaded.cfg, shape, default)
        self.frontend = choice.require(self.path, "scoring audio clips")
        if len(shape) == 3 and self.frontend.model_input_shape != shape:
            raise InputError(f"the {choice.source} front end makes {self.frontend.model_input_shape} inputs, but the model takes {shape}", self.path)
        self.labels = list(labels) if labels is not None else list(self.loaded.meta.get("labels") or [])
        if self.labels and len(self.labels) != config.num_classes[0]:
            raise InputError(f"{len(self.labels)} labels given for a model with {config.num_classes[0]} classes", self.path)
        self.head_act = config.head_act
        self.model = self.loaded.model.eval()

    def window_probabilities(self, windows: np.ndarray) -> np.ndarray:
        """Class probabilities (windows, classes), float32 as the exported models give them."""
        from edgeaudio.pipeline.torch_run import run_model

        return next(iter(run_model(self.model, windows, "probs").values())).astype(np.float32)

    def describe(self) -> tuple[str, str, str]:
        import torch

        return "torch", f"fp32 {self.loaded.form}", f"torch {torch.__version__} eager"
