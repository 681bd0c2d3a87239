"""The ExecuTorch target: torch.export, lowered to the XNNPACK delegate, written as a .pte program.

fp32: torch.export -> to_edge_transform_and_lower(XnnpackPartitioner) -> to_executorch.
int8: PT2E static quantization before the same lowering: torchao's prepare_pt2e with executorch's
XNNPACKQuantizer (int8 affine activations per tensor, their ranges by min-max or the quantizer's own histogram
observer, int8 symmetric weights per output channel), calibrated
by running the prepared model on every job.calibration sample, then convert_pt2e. The file's input and output
stay float32: the program quantizes its input and dequantizes its output itself (the model's ends stay float),
so a caller exchanges float32 as with the fp32 file, and the parity chain judges it on the same held-out samples.

The file has a fixed batch of 1 unless job.dynamic_batch asks for a batch dimension, bounded: ExecuTorch plans
memory for the largest batch, and the lowering may tighten the bound (the facts record the batch range planned).
Ops the XNNPACK partitioner does not take (for AudioRepInceptionNeXt's head: mean over (T, F) without keepdim,
cat) run on ExecuTorch's portable kernels, in float; the facts count them. Metadata lives in the manifest: a
.pte has no free-form metadata section.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

from edgeaudio.runtime.formats import FORMATS

from .description import ExportError
from .target import ExportJob, Makes, TargetExporter, module_losses

DELEGATE = "XNNPACK"
MAX_DYNAMIC_BATCH = 64  # ExecuTorch plans memory for the largest shape: a bound, not ONNX's 4096
OBSERVERS = {"minmax": "MinMaxObserver", "histogram": "HistogramObserver"}
QUANTIZER = {
    "flow": "PT2E (torchao prepare_pt2e / convert_pt2e)",
    "quantizer": "executorch XNNPACKQuantizer, get_symmetric_quantization_config(is_per_channel=True); zero pads share their input's qparams",
    "weights": "int8 symmetric per output channel",
    "ends": "float32 input and output; quantize/dequantize inside the program",
}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def _quiet():
    """torch.export, torchao and the lowering print deprecation notices and native-library banners that say
    nothing about this model."""
    from edgeaudio.quiet import captured_fds

    loggers = [logging.getLogger(name) for name in ("torch", "torchao", "executorch")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), captured_fds():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _imports():
    """executorch's export side, imported only when this target is used; ExportError when it is missing."""
    try:
        with _quiet():
            import torchao.quantization.pt2e.quantize_pt2e as pt2e
            from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
            from executorch.backends.xnnpack.quantizer import xnnpack_quantizer
            from executorch.exir import to_edge_transform_and_lower
    except Exception as exc:  # ImportError; a KeyError from importlib after an earlier half-failed import
        raise ExportError(f"--target executorch needs executorch and torchao ({_one_line(exc)}): "
                          f"pip install 'edgeaudio[executorch]'") from None
    return pt2e, XnnpackPartitioner, xnnpack_quantizer, to_edge_transform_and_lower


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("executorch", "torchao", "torch"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "unknown"
    return out


def _planned_batch(program) -> str:
    """A batch-dynamic program's batch range as lowered: XNNPACK's lowering may tighten the bound asked for
    (measured: 64 asked, 15 planned for AudioRepInceptionNeXt at 96 x 64), and the runtime takes only that."""
    from executorch.exir.sym_util import eval_upper_bound

    name = program.graph_signature.user_inputs[0]
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == name)
    return f"1-{int(eval_upper_bound(node.meta['val'].shape[0]))}"


def delegation(graph_module) -> dict:
    """How much of a lowered edge graph the delegate took: partitions, ops inside them, ops left outside (by
    name; those run on ExecuTorch's portable kernels)."""
    import operator

    partitions = delegated = 0
    outside: dict[str, int] = {}
    for node in graph_module.graph.nodes:
        if node.op == "get_attr" and node.name.startswith("lowered_module"):
            lowered = getattr(graph_module, node.target)
            original = getattr(lowered, "original_module", None)
            if original is not None:
                delegated += sum(1 for n in original.graph.nodes if n.op == "call_function" and n.target is not operator.getitem)
        elif node.op == "call_function":
            name = getattr(node.target, "__name__", str(node.target))
            if "executorch_call_delegate" in name:
                partitions += 1
            elif node.target is not operator.getitem:
                outside[name] = outside.get(name, 0) + 1
    return {"partitions": partitions, "delegated_ops": delegated, "ops_outside_delegate": dict(sorted(outside.items()))}


def _quantizer(xnnpack_quantizer, float_layers: tuple[str, ...] = ()):
    """executorch's XNNPACKQuantizer, with two additions: a constant pad shares its input's quantization (as
    max pool, relu and reshapes already do there), and so do the ops after it that share; and the ops of the
    PyTorch modules `float_layers` (and of what is inside them) are left unannotated, so they stay float
    (the quantizer's own module-name filter; its set_module_name takes no "leave float" config).

    Without it a pad after an int8 tensor stays float between a dequantize and a quantize, the partitioner
    still hands it to XNNPACK, and XNNPACK refuses the program when it loads (StaticConstantPad: invalid
    parameter; seen with executorch 1.4.0 on the stem's zero pad before its max pool). Sharing is exact: a
    zero pad of an affine int8 tensor pads with its zero point, which is 0.0.
    """
    import torch
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, SharedQuantizationSpec
    from torchao.quantization.pt2e.quantizer.quantizer import Q_ANNOTATION_KEY
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer_utils import _is_share_obs_or_fq_op

    pads = {torch.ops.aten.pad.default, torch.ops.aten.constant_pad_nd.default}

    def constant_pad(node) -> bool:
        if node.target is torch.ops.aten.constant_pad_nd.default:
            value = node.args[2] if len(node.args) > 2 else node.kwargs.get("value", 0)
            return not value
        mode = node.args[2] if len(node.args) > 2 else node.kwargs.get("mode", "constant")
        value = node.args[3] if len(node.args) > 3 else node.kwargs.get("value", None)
        return mode == "constant" and not value

    def propagate(model) -> None:  # xnnpack_quantizer_utils.propagate_annotation, with zero pads among the sharers
        for node in model.graph.nodes:
            sharer = _is_share_obs_or_fq_op(node.target) or (node.target in pads and constant_pad(node))
            if node.op != "call_function" or not sharer or not node.args or not isinstance(node.args[0], torch.fx.Node):
                continue
            previous = node.args[0]
            annotation = previous.meta.get(Q_ANNOTATION_KEY)
            if annotation is None or not annotation.output_qspec:
                continue
            if Q_ANNOTATION_KEY in node.meta and node.meta[Q_ANNOTATION_KEY]._annotated:
                continue
            shared = SharedQuantizationSpec(previous)
            node.meta[Q_ANNOTATION_KEY] = QuantizationAnnotation(input_qspec_map={previous: shared}, output_qspec=shared, _annotated=True)

    filters = [xnnpack_quantizer.get_module_name_filter(name) for name in float_layers]

    def quantized(node) -> bool:
        return not any(f(node) for f in filters)

    class PadSharingXNNPACKQuantizer(xnnpack_quantizer.XNNPACKQuantizer):
        def annotate(self, model):
            self._annotate_all_patterns(model, self.global_config, quantized)
            propagate(model)
            return model

    return PadSharingXNNPACKQuantizer()


class ExecuTorchExporter(TargetExporter):
    target = "executorch"
    format = FORMATS["executorch"]
    # both from the PyTorch module itself; int8 activation ranges from PT2E observers: min-max, or the histogram
    # observer of the XNNPACK quantizer's static config (it searches the range with the least L2 error)
    makes = (Makes("fp32"), Makes("int8", None, ("minmax", "histogram")))

    def __init__(self) -> None:
        super().__init__()
        self.graphs: dict[Path, tuple] = {}  # int8 file -> (captured float graph, converted PT2E graph): its layer losses

    def export(self, precision: str, job: ExportJob, calib_method: str | None = None) -> Path:
        import torch

        pt2e, XnnpackPartitioner, xnnpack_quantizer, to_edge_transform_and_lower = _imports()
        if not self.facts:
            self.facts = {**_versions(), "delegate": DELEGATE, "files": {}}
        shape = tuple(int(d) for d in job.description.input_shape)
        # a batch of 1 in the example would specialise a dynamic batch dimension to 1: trace it with 2
        example = (torch.zeros((2, *shape[1:]) if job.dynamic_batch else shape, dtype=torch.float32),)
        dynamic = ({0: torch.export.Dim("batch", min=1, max=MAX_DYNAMIC_BATCH)},) if job.dynamic_batch else None
        module = job.module.eval()
        facts: dict = {}
        try:
            with torch.no_grad(), _quiet():
                if precision == "int8":
                    method = calib_method or "minmax"
                    captured, module = self._quantized(module, example, dynamic, job, pt2e, xnnpack_quantizer, method)
                    facts.update(QUANTIZER, activations=f"int8 affine per tensor, static ({OBSERVERS[method]})",
                                 calibration_samples=len(job.calibration))
                exported = torch.export.export(module, example, dynamic_shapes=dynamic, strict=False)
                edge = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()])
                facts["batch"] = _planned_batch(edge.exported_program()) if job.dynamic_batch else 1
                facts.update(delegation(edge.exported_program().graph_module))
                program = edge.to_executorch()
        except ExportError:
            raise
        except Exception as exc:  # torch.export, torchao and the lowering raise many types; the first line says what
            raise ExportError(f"ExecuTorch {precision} export failed: {_one_line(exc)}") from exc
        if facts["partitions"] == 0:
            raise ExportError(f"ExecuTorch {precision}: the {DELEGATE} delegate took no part of the graph")
        from edgeaudio.atomic import atomic_path

        path = job.work / self.file_name(job.name, precision)
        with atomic_path(path) as tmp:
            Path(tmp).write_bytes(program.buffer)
        self.facts["files"][precision] = {**facts, "float_layers": list(job.float_layers)} if precision == "int8" else facts
        if precision == "int8":
            self.graphs = {path: (captured, module)}
        return path

    def layer_losses(self, int8_path: Path, float_path: Path, samples) -> dict[str, float]:
        """From the PT2E graphs the int8 file was lowered from: the converted graph (quantize / dequantize pairs
        computed in float, the values XNNPACK's integer kernels approximate) against the captured float graph,
        node by node (convert_pt2e keeps the captured nodes' names)."""
        from .pt2e_layers import layer_losses

        if Path(int8_path) not in self.graphs:
            raise ExportError(f"ExecuTorch int8 measures per-layer error only for the file it wrote last, not {Path(int8_path).name}")
        return module_losses(layer_losses(*self.graphs[Path(int8_path)], samples))

    @staticmethod
    def _quantized(module, example, dynamic, job: ExportJob, pt2e, xnnpack_quantizer, method: str):
        """(a float copy of the captured graph, the PT2E int8 module): captured (with the export's batch
        dimension), observed on every calibration sample one at a time (a fixed-batch capture takes only batch 1)
        by `method`'s observer, converted."""
        import copy

        import dataclasses

        import numpy as np
        import torch

        if job.calibration is None or len(job.calibration) == 0:
            raise ExportError("ExecuTorch int8 needs calibration samples; none were given")
        want = tuple(example[0].shape[1:])
        if tuple(job.calibration.shape[1:]) != want:
            raise ExportError(f"ExecuTorch int8: calibration samples are {tuple(job.calibration.shape[1:])}, the model takes {want}")
        config = xnnpack_quantizer.get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False)
        if method == "minmax":  # the same activation spec, observed by its min and max instead of a histogram search
            from torchao.quantization.pt2e import MinMaxObserver

            activation = dataclasses.replace(config.input_activation, observer_or_fake_quant_ctr=MinMaxObserver.with_args(eps=2**-12))
            config = dataclasses.replace(config, input_activation=activation, output_activation=activation)
        quantizer = _quantizer(xnnpack_quantizer, job.float_layers).set_global(config)
        captured = torch.export.export(module, example, dynamic_shapes=dynamic, strict=False).module()
        float_graph = copy.deepcopy(captured)  # prepare_pt2e rewrites the graph it is given
        prepared = pt2e.prepare_pt2e(captured, quantizer)
        for sample in np.asarray(job.calibration, dtype=np.float32):
            prepared(torch.from_numpy(np.ascontiguousarray(sample[None])))
        return float_graph, pt2e.convert_pt2e(prepared)

    @classmethod
    def step(cls, precision: str) -> str:
        return f"ExecuTorch {precision}"

    def message(self, precision: str, job: ExportJob) -> str:
        if precision == "int8":
            return (f"exporting ExecuTorch int8 (PT2E, XNNPACK quantizer, per-channel weights; calibrating on "
                    f"{len(job.calibration)} samples)")
        return f"exporting ExecuTorch {precision} ({DELEGATE} delegate)"
