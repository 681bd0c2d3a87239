"""Small pieces the models share: reading the fvcore cfg, choosing the head's output, the official head's
projection step, and a single-projection head's activation."""

from __future__ import annotations

from typing import Any, Mapping

from torch import Tensor, nn


def cfg_lookup(cfg: Mapping[str, Any], dotted: str) -> Any:
    """The value at "SECTION.KEY" of a parsed official cfg, or None if any part is missing."""
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def project(head: nn.Module, x: Tensor) -> Tensor | tuple[Tensor, ...]:
    """The official head's last step on pooled features (N, T, F, C): each projection, then in eval mode
    (with head.output == "probs") the activation, then the mean over positions."""
    outs = []
    for name in head.projection_names:
        y = getattr(head, name)(x)
        if not head.training and head.output == "probs":
            y = head.act(y)
        outs.append(y.mean(dim=(1, 2)))
    return outs[0] if len(outs) == 1 else tuple(outs)


class OutputSelection:
    """Mixin for models whose head can return the official probabilities or the logits."""

    def set_output(self, output: str):
        if output not in ("probs", "logits"):
            raise ValueError(f"output must be 'probs' or 'logits', got {output!r}")
        self.head.output = output
        return self

    @property
    def output(self) -> str:
        return self.head.output


def activate(head: nn.Module, logits: Tensor) -> Tensor:
    """A single-projection head's output: the logits in training or when asked for (head.output), otherwise its
    activation (head.act, "sigmoid" or "softmax") over the classes."""
    if head.output == "logits" or head.training:
        return logits
    return logits.sigmoid() if head.act == "sigmoid" else logits.softmax(dim=-1)
