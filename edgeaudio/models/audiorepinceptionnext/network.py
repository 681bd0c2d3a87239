"""AudioRepInceptionNeXt (Lau, Rehman, Po, 2024) with the official module tree, so official weights load strictly."""

from __future__ import annotations

from torch import Tensor, nn

from edgeaudio.models.audiorepinceptionnext.blocks import (
    FORMS,
    BlockShape,
    Head,
    RepInceptionBlock,
    Stage,
    Stem,
    StemStage,
)
from edgeaudio.models.audiorepinceptionnext.config import (
    STAGE_NAMES,
    AudioRepInceptionNeXtConfig,
)
from edgeaudio.models.common import OutputSelection


class AudioRepInceptionNeXt(OutputSelection, nn.Module):
    """Single-stream CNN on log-mel spectrograms (N, 1, T, F); layout in docs/models.md.

    `form` is one of "training", "merged", "inference" (the official checkpoint forms) or "folded"
    (edgeaudio's deploy form). In eval mode the output is the official head's softmax probabilities, or the
    logits after `set_output("logits")`; two heads (EPIC-KITCHENS) give a (verb, noun) tuple.
    """

    arch = "audiorepinceptionnext"

    def __init__(self, config: AudioRepInceptionNeXtConfig, form: str = "training"):
        super().__init__()
        if form not in FORMS:
            raise ValueError(f"unknown form {form!r}; expected one of {FORMS}")
        self.config = config
        self.form = form
        cfg = config
        self.s1 = StemStage(Stem(cfg.in_channels, cfg.width, cfg.stem_kernel, cfg.bn_eps, folded=form == "folded"))
        dim_in = cfg.width
        for i, name in enumerate(STAGE_NAMES):
            dim = cfg.stage_widths[i]
            blocks = []
            for j in range(cfg.depths[i]):
                stride = (cfg.time_strides[i], cfg.freq_strides[i]) if j == 0 else (1, 1)
                shape = BlockShape(
                    dim_in=dim_in if j == 0 else dim,
                    dim=dim,
                    dim_inner=dim * cfg.mlp_ratio,
                    stride=stride,
                    time_kernels=tuple(cfg.time_kernels[i]),
                    freq_kernels=tuple(cfg.freq_kernels[i]),
                    eps=cfg.bn_eps,
                )
                blocks.append(RepInceptionBlock(shape, form=form))
            self.add_module(name, Stage(blocks))
            dim_in = dim
        self.head = Head(dim_in, cfg.num_classes, cfg.head_pool, cfg.dropout, cfg.head_act)

    def forward(self, x: Tensor | list[Tensor]) -> Tensor | tuple[Tensor, ...]:
        if isinstance(x, (list, tuple)):  # the official forward takes one tensor per pathway
            (x,) = x
        x = self.s1(x)
        for name in STAGE_NAMES:
            x = getattr(self, name)(x)
        return self.head(x)

    def blocks(self) -> list[RepInceptionBlock]:
        """Every residual block, in order."""
        return [m for m in self.modules() if isinstance(m, RepInceptionBlock)]
