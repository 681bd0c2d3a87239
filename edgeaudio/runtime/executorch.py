"""Running a .pte program with ExecuTorch's Python runtime, when it is installed (it is optional on a device).

ExecuTorch's Python runtime is built against libtorch: it imports torch (and parts of executorch's export side,
which need flatbuffers, ruamel.yaml and tabulate) before it loads. So a .pte runs where the `[executorch]` extra
is installed; the runtime-only install (numpy, click, a TFLite interpreter) never imports this module's backend.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgeaudio.errors import InputError

PTE_MAGIC = b"ET"  # flatbuffer file identifier at bytes 4..8: "ET" and a two-digit schema version


def check_pte_file(path: str | os.PathLike) -> Path:
    """Refuse, with one line, a path that is not a readable ExecuTorch program (before the runtime sees it)."""
    from edgeaudio.runtime.files import flatbuffer_identifier

    path, identifier = flatbuffer_identifier(path, ".pte", "ExecuTorch")
    if identifier[:2] != PTE_MAGIC or not identifier[2:].isdigit():
        raise InputError("is not an ExecuTorch program (no ET identifier)", path)
    return path


def _runtime():
    """ExecuTorch's Runtime singleton, its Verification enum and its package version; InputError if missing."""
    import contextlib
    import io
    import warnings

    from edgeaudio.quiet import captured_fds

    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), captured_fds():
            warnings.simplefilter("ignore")  # "experimental API" notices and torch deprecations
            from executorch.runtime import Runtime, Verification

            runtime = Runtime.get()  # loads the native library (and prints CPU-probe lines on fd 2)
    except Exception as exc:  # ImportError; a KeyError from importlib after an earlier half-failed import
        # executorch.runtime hides the real cause behind "reinstall ExecuTorch"; name what is missing
        cause = exc.__cause__ or exc
        said = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise InputError(f"running .pte models needs executorch ({said}): pip install 'edgeaudio[executorch]'") from None
    try:
        from importlib.metadata import version

        ver = version("executorch")
    except Exception:
        ver = "unknown"
    return runtime, Verification, ver


class ExecuTorchModel:
    """A loaded .pte program's `forward` on the CPU; `run` takes NCHW float32 (or (N, samples)) and returns the
    outputs in order, as float32 numpy arrays."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, preserve_all_tensors: bool = False):
        self.path = check_pte_file(path)
        runtime, verification, self.version = _runtime()
        if threads:
            # XNNPACK's thread pool is the process's (a later model loaded without `threads` keeps this count);
            # the runtime's only knob for it is this one
            reset = getattr(runtime._legacy_module, "_unsafe_reset_threadpool", None)
            if reset is not None:
                self._native(reset, "could not set its thread count", int(threads))
        self.program = self._native(runtime.load_program, "the ExecuTorch runtime refused it", self.path,
                                    verification=verification.InternalConsistency)
        if "forward" not in self.program.method_names:
            raise InputError(f"has no forward method (methods: {', '.join(sorted(self.program.method_names))})", self.path)
        # XNNPACK compiles its partitions here: a program it cannot build fails now, not at the first run
        self.method = self._native(self.program.load_method, "the ExecuTorch runtime refused it", "forward")
        meta = self.method.metadata
        if meta.num_inputs() != 1:
            raise InputError(f"takes {meta.num_inputs()} inputs; edgeaudio models take one", self.path)
        self.num_outputs = meta.num_outputs()
        self._input_meta = meta.input_tensor_meta(0)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The input's shape as the program plans it; for a batch-dynamic program the batch is its largest."""
        return tuple(int(d) for d in self._input_meta.sizes())

    @property
    def backend(self) -> str:
        return f"executorch {self.version}"

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """One input sample as PyTorch shapes it: a .pte keeps PyTorch's layout."""
        return tuple(self.input_shape[1:])

    def from_nchw(self, x: np.ndarray) -> np.ndarray:
        return x

    def bench_facts(self, batch: int) -> dict:
        """What a benchmark row records: no graph counter reads a .pte, so no params or MACs."""
        return {"delegate": "XNNPACK", "input_dtype": "float32", "output_dtype": "float32", "params": None, "macs": None}

    @property
    def max_batch(self) -> int:
        """The largest batch one execute takes: the planned batch (1 unless exported with --dynamic-batch)."""
        return self.input_shape[0] if len(self.input_shape) > 1 else 1

    def _tensor(self, x: np.ndarray):
        import torch

        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))

    def _check_sample(self, x: np.ndarray) -> None:
        if tuple(x.shape[1:]) != self.input_shape[1:]:
            raise InputError(f"takes samples shaped {self.input_shape[1:]}, got {tuple(x.shape[1:])}", self.path)

    def prepared(self, x: np.ndarray):
        """A call that runs only the inference on `x` (float32, a batch the program accepts): `x` is converted
        once; each call copies it into the program's input and executes, and copies no outputs out."""
        x = np.asarray(x, dtype=np.float32)
        self._check_sample(x)
        if len(x) > self.max_batch:
            raise InputError(f"takes batches of at most {self.max_batch}; export it with --dynamic-batch to run batch {len(x)}"
                             if self.max_batch == 1 else f"takes batches of at most {self.max_batch}, not {len(x)}", self.path)
        inputs = [self._tensor(x)]
        raw = getattr(self.method, "_method", None)  # the native method: set_inputs and execute, no output copies
        if raw is None or not hasattr(raw, "set_inputs") or not hasattr(raw, "execute"):
            return lambda: self.method.execute(inputs)

        def invoke():
            # set every call: the program's memory plan may reuse the input's buffer for intermediate tensors,
            # so a second execute without it reads a clobbered input (measured: wrong outputs)
            raw.set_inputs(inputs)
            raw.execute()

        return invoke

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """Run a batch, in chunks of the program's largest batch (sample by sample for a fixed batch of 1)."""
        x = np.asarray(x, dtype=np.float32)
        self._check_sample(x)
        if len(x) == 0:
            raise InputError("got an empty batch", self.path)
        step = self.max_batch
        rows = [self._execute(x[i : i + step]) for i in range(0, len(x), step)]
        return rows[0] if len(rows) == 1 else [np.concatenate([r[k] for r in rows]) for k in range(self.num_outputs)]

    def _execute(self, x: np.ndarray) -> list[np.ndarray]:
        outputs = self._native(self.method.execute, f"the ExecuTorch runtime failed on a batch shaped {x.shape}", [self._tensor(x)])
        # outputs are cloned out of the program's memory
        return [np.asarray(o.detach().numpy() if hasattr(o, "detach") else o, dtype=np.float32) for o in outputs]

    def _native(self, call, problem: str, *args, **kwargs):
        """`call` with the runtime's native log (fd 2: CPU probes, thread-pool notes, XNNPACK errors) kept out of
        the user's terminal; on failure, InputError(`problem`) with the runtime's own last word."""
        import tempfile

        from edgeaudio.quiet import captured_fds

        with tempfile.TemporaryDirectory() as tmp:
            log = Path(tmp) / "native.log"
            try:
                with captured_fds(log):
                    return call(*args, **kwargs)
            except Exception as exc:
                said = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                native = log.read_text(errors="replace").splitlines() if log.exists() else []
                first = next((line.strip() for line in native if line.strip() and "cpuinfo" not in line), None)
                raise InputError(f"{problem}: {said}" + (f" ({first})" if first else ""), self.path) from None
