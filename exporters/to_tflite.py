"""ONNX -> TFLite: onnx2tf turns the graph into an NHWC TensorFlow SavedModel, then the TFLite converter writes
fp32, fp16 or full int8 from that one SavedModel.

Why both tools: onnx2tf settles the layout once at the input (NCHW -> NHWC) without a TRANSPOSE in the body,
which no other converter does for these models; the TFLite converter then quantizes from the user's own
calibration data, raw, with only builtin int8 ops allowed, so an op that cannot be int8 fails loudly instead
of slipping in as a float or Flex op. Building every precision from the same SavedModel also gives the fp32
and int8 files the same tensor names, which the per-layer int8 diagnosis relies on.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgeaudio.quiet import captured_fds
from .description import ExportError

PRECISIONS = ("fp32", "fp16", "int8")


def _tail(log_path: Path, lines: int = 3) -> str:
    try:
        text = [line for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def onnx_to_saved_model(onnx_path: str | os.PathLike, workdir: str | os.PathLike) -> Path:
    """Convert an ONNX file to an NHWC SavedModel in `workdir` with onnx2tf; returns the SavedModel folder.

    onnx2tf rewrites its input file in place, so it converts a copy. onnx2tf builds the Keras model and
    edgeaudio writes the SavedModel (see _save_graph): onnx2tf's own save spent most of its time serialising
    Keras metadata the TFLite converter never reads, then wrote fp32 and fp16 .tflite files of its own that
    the export writes again from the SavedModel.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    workdir = Path(workdir)
    copy = workdir / "input.onnx"
    shutil.copyfile(onnx_path, copy)
    out = workdir / "saved_model"
    log = workdir / "onnx2tf.log"
    try:
        with captured_fds(log):
            import onnx2tf  # importing TensorFlow prints banners from C++

            model = onnx2tf.convert(
                input_onnx_file_path=str(copy),
                output_folder_path=str(out),
                non_verbose=True,
                not_use_onnxsim=True,  # edgeaudio already simplified it; onnxsim's CLI would run three more times
                not_use_opname_auto_generate=True,
                disable_model_save=True,  # the Keras model only; _save_graph writes the SavedModel
            )
            _save_graph(model, out)
    except (Exception, SystemExit) as exc:
        raise ExportError(f"onnx2tf could not convert the ONNX model: {exc} {_tail(log)}".strip()) from exc
    if not (out / "saved_model.pb").exists():
        raise ExportError(f"onnx2tf wrote no SavedModel: {_tail(log)}")
    return out


def _save_graph(model, out: Path) -> None:
    """Write onnx2tf's Keras `model` as a SavedModel of one serving signature: its graph and variables, as
    onnx2tf's own save does, without the Keras layer metadata (a JSON copy of every layer's config, weights
    held as constants included) that tf.saved_model.save attaches to a Keras model. The TFLite converter makes
    the same file from it: same ops, outputs in the same order (tests/test_export_speed.py)."""
    import tensorflow as tf

    specs = [tf.TensorSpec(t.shape, t.dtype, t.name) for t in model.inputs]
    serve = tf.function(lambda *inputs: model(list(inputs)), input_signature=specs)
    concrete = serve.get_concrete_function()
    holder = tf.Module()  # tracks the variables the graph reads, not the Keras layers around them
    # the traced graph's own variables: some onnx2tf layers (LEAN's 1-D convs) create kernels no Keras layer tracks
    holder.weights = list({id(v): v for v in [*model.variables, *concrete.variables]}.values())
    holder.serve = serve
    tf.saved_model.save(holder, str(out), signatures=concrete)


def float_region(float_flatbuffer: bytes, until: tuple[str, ...]) -> list[str]:
    """Output tensor names of every op of a type in `until` and of every op that feeds one, in a float model."""
    with captured_fds():
        import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_content=float_flatbuffer)
    ops = interpreter._get_ops_details()
    names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    producer = {out: op for op in ops for out in op["outputs"]}
    region: set[int] = set()
    stack = [op for op in ops if op["op_name"] in until]
    while stack:
        op = stack.pop()
        if op["index"] in region:
            continue
        region.add(op["index"])
        stack.extend(producer[i] for i in op["inputs"] if i in producer)
    return [names[out] for op in ops if op["index"] in region for out in op["outputs"]]


def _int8_with_float_region(converter, float_model: bytes, until: tuple[str, ...], float_nodes: tuple[str, ...] = ()) -> bytes:
    """int8 everywhere except the float region of `float_model` (the same graph in fp32; see float_region) and
    `float_nodes`, through TFLite's quantization debugger, the converter's own way of keeping chosen nodes float,
    calibrated on the converter's representative dataset; the model's ends stay float."""
    import tensorflow as tf

    nodes = float_region(float_model, until)
    if not nodes:
        raise ExportError(f"no {'/'.join(until)} op found to keep float up to; the model's graph changed")
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter,
        debug_dataset=converter.representative_dataset,
        debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=[*nodes, *float_nodes]),
    )
    return debugger.get_nondebug_quantized_model()


def tflite_converter(saved_model: str | os.PathLike, precision: str, calibration: np.ndarray | None = None, float_ends: bool = False):
    """The TFLite converter for `precision`, set up as convert_saved_model uses it (see there)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with captured_fds():
        import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if precision == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "int8":
        if calibration is None or len(calibration) == 0:
            raise ExportError("int8 conversion needs calibration data")
        samples = np.asarray(calibration, dtype=np.float32)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([samples[i : i + 1]] for i in range(len(samples)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if not float_ends:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    return converter


def convert_saved_model(
    saved_model: str | os.PathLike,
    precision: str,
    calibration: np.ndarray | None = None,
    float_until: tuple[str, ...] = (),
    float_model: bytes | None = None,
    ranges: str = "minmax",
    float_nodes: tuple[str, ...] = (),
    calibrated: dict[str, bytes] | None = None,
) -> bytes:
    """A .tflite flatbuffer of `precision` from a SavedModel.

    int8 is full integer: int8 weights (per channel), activations, input and output, calibrated on
    `calibration` (float32, in the SavedModel's input layout, one sample per row, raw values). Only builtin
    ops are allowed, except that the ops writing `float_nodes` (tensor names) stay float, between a dequantize
    and a quantize. With `float_until` (TFLite op types, e.g. ("LOG",)), those ops and every op feeding them
    stay float, and so do the model's input and output; the rest is int8. The region is found in
    `float_model` (this SavedModel converted to fp32), converted here when the caller has none. `ranges` picks
    how activation ranges come from the calibration: the converter's own min-max, or "percentile" / "mse"
    (calibration_ranges.py; not with a float region). `calibrated`, a dict the caller keeps, holds the
    converter's calibrated graph per calibration set, so files that differ only in ranges or float nodes
    calibrate once.
    """
    if precision not in PRECISIONS:
        raise ExportError(f"unknown precision {precision!r}; one of {', '.join(PRECISIONS)}")
    with captured_fds():
        import tensorflow as tf

    converter = tflite_converter(saved_model, precision, calibration, float_ends=bool(float_until))
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "converter.log"
        try:
            with captured_fds(log):
                if precision == "int8" and float_until:
                    if float_model is None:
                        float_model = tf.lite.TFLiteConverter.from_saved_model(str(saved_model)).convert()
                    return _int8_with_float_region(converter, float_model, float_until, float_nodes)
                if precision == "int8":
                    from .calibration_ranges import calibrated_graph, quantize_with_ranges

                    samples = np.asarray(calibration, dtype=np.float32)
                    key = calibration_key(samples)
                    cache = calibrated if calibrated is not None else {}
                    if key not in cache:
                        cache[key] = calibrated_graph(converter)
                    return quantize_with_ranges(cache[key], samples, ranges, float_nodes)
                return converter.convert()
        except Exception as exc:
            message = str(exc).strip().splitlines()
            flex = [line for line in message if "Flex" in line or "not supported" in line]
            raise ExportError(
                f"the TFLite converter refused the {precision} model: {(flex or message or [type(exc).__name__])[0]}"
            ) from exc


def calibration_key(samples: np.ndarray) -> str:
    """What a calibrated graph is kept under: its calibration samples' digest."""
    return hashlib.sha256(np.ascontiguousarray(samples, dtype=np.float32).tobytes()).hexdigest()


def convert_apart(saved_model: str | os.PathLike, precision: str, *args, apart: "Apart | None" = None) -> bytes:
    """convert_saved_model(saved_model, precision, *args) in a Python process of its own (`apart`, when one was
    started ahead; its calibrated graphs are kept there, one per calibration set): the same converter on the same
    SavedModel and samples, so the same file, made without this process's Python lock. The converter holds the
    lock through its native calls (calibrating one sample takes 0.4 s on the VGG-Sound-size model, measured), and
    importing TensorFlow and onnx2tf's graph building need it throughout: in the export's own process they stall
    every other thread (the gate's PyTorch reference) between its ops."""
    return _apart("_convert_kept", precision, (str(saved_model), precision, *args), apart)


def saved_model_apart(onnx_path: str | os.PathLike, workdir: str | os.PathLike, apart: "Apart") -> Path:
    """onnx_to_saved_model(onnx_path, workdir) in `apart`, for the reason convert_apart gives."""
    return Path(apart.run("_saved_model_path", "fp32", str(onnx_path), str(workdir)).decode())


def _apart(function: str, precision: str, args: tuple, apart: "Apart | None") -> bytes:
    if apart is not None:
        return apart.run(function, precision, *args)
    with Apart() as fresh:
        return fresh.run(function, precision, *args)


_CALIBRATED: dict[str, dict[str, bytes]] = {}  # in Apart's child: per SavedModel, its calibrated graph per calibration set


def _convert_kept(saved_model: str, *args) -> bytes:
    """convert_saved_model(saved_model, *args), in Apart's child, with the child's calibrated graphs."""
    return convert_saved_model(saved_model, *args, calibrated=_CALIBRATED.setdefault(saved_model, {}))


def _saved_model_path(onnx_path: str, workdir: str) -> bytes:
    """onnx_to_saved_model's folder, in Apart's child, as bytes (Apart's answers are bytes)."""
    return str(onnx_to_saved_model(onnx_path, workdir)).encode()


class Apart:
    """A Python process of its own that runs this module's functions, one at a time, for as long as it is open.

    Started before it is needed, it imports TensorFlow (4-6 s of one core on these machines) while the caller
    does other work: an export starts one when its plan holds a TFLite file, while the ONNX file is written on
    one core, and every TFLite conversion of the export runs in it (TFLiteExporter), so the export's own process
    never imports TensorFlow.
    Each call's arguments and result go through files in a folder of their own; the folder's path goes to the
    child on its stdin, and it answers on a pipe of its own (the converters may print on stdout)."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # this process's imports
        read, write = os.pipe()
        code = f"from edgeaudio.exporters.to_tflite import _serve; _serve({write})"
        self._log = tempfile.TemporaryFile()
        try:
            # -P: the child's imports are this process's (PYTHONPATH), not a package that happens to sit in the cwd
            self._process = subprocess.Popen([sys.executable, "-P", "-c", code], stdin=subprocess.PIPE, stdout=self._log, stderr=self._log,
                                             env=env, pass_fds=(write,))
        except BaseException:
            os.close(read)
            self._log.close()
            raise
        finally:
            os.close(write)  # the child's end: this process only reads
        self._replies = os.fdopen(read, "r")

    def __enter__(self) -> "Apart":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def run(self, function: str, precision: str, *args) -> bytes:
        """The bytes `function` of this module returns for `args`, computed in the child; its ExportError comes back
        as the same ExportError."""
        with tempfile.TemporaryDirectory(prefix="edgeaudio-tflite-") as tmp:
            folder = Path(tmp)
            (folder / "args.pickle").write_bytes(pickle.dumps((function, args), protocol=pickle.HIGHEST_PROTOCOL))
            try:
                self._process.stdin.write(f"{folder}\n".encode())
                self._process.stdin.flush()
                answered = self._replies.readline() != ""
            except OSError:  # the child is gone
                answered = False
            refused = folder / "refused.txt"
            if refused.exists():
                raise ExportError(refused.read_text())
            if not answered or not (folder / "result.bin").exists():
                raise ExportError(f"the TFLite {precision} conversion's process failed: {self._last_words()}")
            return (folder / "result.bin").read_bytes()

    def _last_words(self) -> str:
        code = self._process.poll()
        self._log.seek(0)
        lines = [line for line in self._log.read().decode(errors="replace").splitlines() if line.strip()]
        return lines[-1] if lines else f"exit code {code}"

    def close(self) -> None:
        """Ends the child (at once if it is still importing: nothing of it is kept) and frees what it held."""
        if self._process.poll() is None:
            try:
                self._process.stdin.close()
                self._process.wait(timeout=1)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        self._replies.close()
        self._log.close()


def _serve(answers: int) -> None:
    """Apart's other side: import what the calls need, then run each folder named on stdin (_run_here) and answer
    on the `answers` pipe, until stdin ends."""
    import onnx2tf  # noqa: F401  (the reason to start early: it imports TensorFlow)

    with os.fdopen(answers, "w") as reply:
        for line in sys.stdin:
            _run_here(line.strip())
            reply.write("done\n")
            reply.flush()


def _run_here(folder: str) -> None:
    """One call of Apart's, in the child: the function and arguments from FOLDER/args.pickle (written by Apart.run),
    its bytes to FOLDER/result.bin, an ExportError's message to FOLDER/refused.txt."""
    folder = Path(folder)
    function, args = pickle.loads((folder / "args.pickle").read_bytes())
    try:
        result = globals()[function](*args)
    except ExportError as exc:
        (folder / "refused.txt").write_text(str(exc))
        return
    (folder / "result.bin").write_bytes(result)
