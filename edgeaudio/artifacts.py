"""What an export makes: an Artifact is one file, named by its target and precision.

One spelling everywhere: `Artifact("tflite", "int8")` is "tflite-int8" on the command line (bench --formats),
in reports and stage names; the ONNX fp32 file is plain "onnx". Which artifacts exist, what each starts from
and which calibration methods each honours is declared by the exporters (edgeaudio.exporters) and resolved
into an export plan there; this module is only the name, light enough for the runtime side.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeaudio.errors import InputError

PRECISIONS = ("fp32", "fp16", "int8")
# How int8 activation ranges may be chosen (--calib-method): "auto" tries a target's methods in turn (min-max
# first) until one passes; "histogram" is PT2E's histogram observer (ExecuTorch)
CALIB_METHODS = ("auto", "minmax", "percentile", "mse", "histogram")
TORCH = "torch"  # bench's PyTorch eager rows: not an artifact, the checkpoint itself


@dataclass(frozen=True, order=True)
class Artifact:
    target: str  # "onnx", "tflite", "executorch"
    precision: str  # "fp32", "fp16", "int8"

    @property
    def name(self) -> str:
        """"onnx" for ONNX fp32 (every other target's starting point), "target-precision" otherwise."""
        return self.target if (self.target, self.precision) == ("onnx", "fp32") else f"{self.target}-{self.precision}"

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, text: str) -> "Artifact":
        """An artifact from its name: "onnx", "onnx-int8", "tflite-fp16", "executorch" (fp32 when no precision)."""
        target, _, precision = text.strip().lower().partition("-")
        precision = precision or "fp32"
        if not target or precision not in PRECISIONS:
            raise InputError(f"{text!r} is not an artifact name: TARGET or TARGET-PRECISION, precision one of {', '.join(PRECISIONS)}")
        return cls(target, precision)

    def to_dict(self) -> dict:
        return {"target": self.target, "precision": self.precision, "name": self.name}
