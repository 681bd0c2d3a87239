"""The export plan: which files an export writes, in which order, each with the calibration method its int8
ranges come from, resolved from the exporters' own declarations before any work starts.

A combination no exporter supports (a precision a target does not write, a calibration method a target does
not honour) is refused here, in one line, so a user never waits for a conversion that was bound to fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from edgeaudio.artifacts import CALIB_METHODS, Artifact
from edgeaudio.errors import InputError


@dataclass(frozen=True)
class PlannedArtifact:
    """One file of the plan: what it starts from, how its int8 ranges are set, and whether the user asked for it
    (or it is written because another starts from it)."""

    artifact: Artifact
    starts_from: Artifact | None  # None: the export-form PyTorch module
    candidates: tuple[str, ...]  # int8: the calibration methods to try, in order (one unless "auto"); () when float
    requested: bool

    @property
    def calib_method(self) -> str | None:
        """The method asked for: "auto" when several are tried, None for a float file."""
        return None if not self.candidates else self.candidates[0] if len(self.candidates) == 1 else "auto"

    def to_dict(self) -> dict:
        return {**self.artifact.to_dict(), "starts_from": None if self.starts_from is None else self.starts_from.name,
                "calib_method": self.calib_method, "candidates": list(self.candidates), "requested": self.requested}


@dataclass(frozen=True)
class ExportPlan:
    steps: tuple[PlannedArtifact, ...]

    @property
    def artifacts(self) -> list[Artifact]:
        return [s.artifact for s in self.steps]

    def makes(self, precision: str) -> bool:
        return any(s.artifact.precision == precision for s in self.steps)

    def to_dict(self) -> list[dict]:
        return [s.to_dict() for s in self.steps]


def exporter_for(artifact: Artifact):
    """The TargetExporter class that writes `artifact`; InputError when no target or precision fits."""
    from . import EXPORTERS

    exporter = EXPORTERS.get(artifact.target)
    if exporter is None:
        raise InputError(f"unknown target {artifact.target!r}; one of {', '.join(EXPORTERS)}")
    if exporter.making(artifact.precision) is None:
        serving = [t for t, e in EXPORTERS.items() if e.making(artifact.precision)]
        raise InputError(f"--target {artifact.target} writes {', '.join(exporter.precisions())}; "
                         f"{artifact.precision} is written by --target {', '.join(serving) or 'none'}")
    return exporter


def plan_export(requested: Sequence[Artifact], calib_method: str | None = None, float_region: bool = False) -> ExportPlan:
    """The files an export of `requested` writes, each after the file it starts from, in the order asked.

    `calib_method` must be honoured by every int8 file of the plan; "auto" (and None) tries each file's own
    methods in turn, min-max first; `float_region` says the model keeps float ops at its input end, which narrows what some targets honour.
    InputError, in one line, for anything no exporter supports.
    """
    if calib_method is not None and calib_method not in CALIB_METHODS:
        raise InputError(f"unknown --calib-method {calib_method!r}; one of {', '.join(CALIB_METHODS)}")
    wanted = list(dict.fromkeys(requested))
    steps: dict[Artifact, PlannedArtifact] = {}

    def add(artifact: Artifact, asked: bool) -> None:
        exporter = exporter_for(artifact)
        made = exporter.making(artifact.precision)
        if made.starts_from is not None:
            add(made.starts_from, made.starts_from in wanted)
        if artifact not in steps:
            steps[artifact] = PlannedArtifact(artifact, made.starts_from, _candidates(exporter, artifact, calib_method, float_region), asked)

    for artifact in wanted:
        add(artifact, True)
    plan = ExportPlan(tuple(steps.values()))
    if calib_method not in (None, "auto") and not plan.makes("int8"):
        raise InputError(f"--calib-method {calib_method} sets int8 activation ranges, and no int8 file is asked for (add --int8)")
    return plan


def _candidates(exporter, artifact: Artifact, asked: str | None, float_region: bool) -> tuple[str, ...]:
    if artifact.precision != "int8":
        return ()
    honoured = exporter.calib_methods(artifact.precision, float_region)
    if asked in (None, "auto"):
        return honoured
    if asked not in honoured:
        declared = exporter.making(artifact.precision).calib_methods
        why = " for a model that keeps float ops at its input" if float_region and asked in declared else ""
        raise InputError(f"--calib-method {asked}: {exporter.step(artifact.precision)} does not honour it{why} "
                         f"(it takes auto, {', '.join(honoured)})")
    return (asked,)
