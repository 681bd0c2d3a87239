"""PyTorch -> ONNX with torch.onnx's current (dynamo) exporter, simplified with onnxsim, metadata attached."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Mapping

from edgeaudio.atomic import atomic_path
from .description import ExportDescription, ExportError


@contextlib.contextmanager
def _quiet():
    """The exporter logs torchvision and deprecation notices that say nothing about this model."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


MODULE_KEY = "edgeaudio.module"  # node metadata: the PyTorch module the node was exported from


def node_modules(model) -> dict[str, str]:
    """Each node output's PyTorch module (`s4.pathway0_res2.branch2.c`), from the name scopes torch.onnx's
    exporter records on every node ("pkg.torch.onnx.name_scopes": the module path, outermost first, then the
    node's own name)."""
    import ast

    modules = {}
    for node in model.graph.node:
        props = {p.key: p.value for p in node.metadata_props}
        try:
            scopes = ast.literal_eval(props.get("pkg.torch.onnx.name_scopes", "[]"))
        except (ValueError, SyntaxError):
            continue
        module = scopes[-2] if len(scopes) >= 2 else ""
        for out in node.output:
            modules[out] = module
    return modules


def export_onnx(
    module,
    description: ExportDescription,
    path: str | os.PathLike,
    dynamic_batch: bool = False,
    metadata: Mapping[str, str] | None = None,
) -> dict:
    """Write `module` (eval mode, one NCHW input) as a simplified ONNX model at `path`, atomically.

    Returns facts for the manifest: opset, node counts before and after onnxsim.
    """
    import onnx
    import onnxsim
    import torch

    example = torch.zeros(description.input_shape)
    dynamic_shapes = ({0: torch.export.Dim("batch", min=1, max=4096)},) if dynamic_batch else None
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        try:
            with _quiet():
                torch.onnx.export(
                    module,
                    (example,),
                    str(raw),
                    dynamo=True,
                    external_data=False,
                    input_names=[description.input_name],
                    output_names=list(description.output_names),
                    dynamic_shapes=dynamic_shapes,
                )
        except Exception as exc:  # the exporter's failures are many types; the first line says what
            raise ExportError(f"torch.onnx.export failed: {str(exc).strip().splitlines()[0]}") from exc
        model = onnx.load(str(raw))
    nodes_before = len(model.graph.node)
    modules = node_modules(model)
    simplified, ok = onnxsim.simplify(model)
    if ok:
        model = simplified
    for node in model.graph.node:  # onnxsim drops node metadata; tensor names survive it
        module = next((modules[o] for o in node.output if modules.get(o)), None)
        if module:
            node.metadata_props.add(key=MODULE_KEY, value=module)
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=str(value))
    onnx.checker.check_model(model)
    with atomic_path(path) as tmp_path:
        onnx.save(model, str(tmp_path))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    return {"opset": opset, "nodes_exported": nodes_before, "nodes_simplified": len(model.graph.node), "onnxsim": bool(ok)}
