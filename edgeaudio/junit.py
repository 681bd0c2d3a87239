"""JUnit XML for parity checks and accuracy gates, so CI systems render each step, output or model as a test case."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from edgeaudio.atomic import atomic_path


@dataclass
class Case:
    """One <testcase>: its properties (the numbers behind the verdict) and, when it failed, why."""

    classname: str
    name: str
    properties: dict = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    failure_type: str = "ParityError"


def write_cases(path: str | os.PathLike, suite: str, cases: list[Case]) -> Path:
    """One <testsuite> named `suite` holding `cases`, written atomically."""
    root = ET.Element("testsuites")
    failed = sum(1 for c in cases if c.failures)
    element = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)), failures=str(failed), errors="0")
    for c in cases:
        case = ET.SubElement(element, "testcase", classname=c.classname, name=c.name)
        props = ET.SubElement(case, "properties")
        for key, value in c.properties.items():
            if value is not None:
                ET.SubElement(props, "property", name=key, value=str(value))
        if c.failures:
            failure = ET.SubElement(case, "failure", message="; ".join(c.failures), type=c.failure_type)
            failure.text = "\n".join(c.failures)
    with atomic_path(path) as tmp:
        ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)
    return Path(path)


def write_junit(path: str | os.PathLike, suite: str, checks) -> Path:
    """A <testcase> per (parity check, output); failures carry the broken bounds."""
    cases = []
    for check in checks:
        for m in check.outputs:
            props = {key: value for key, value in m.to_dict().items() if key != "name"}
            if m.name in check.noise_floor:  # the reference's own noise, beside the error it bounded
                props["noise_floor"] = check.noise_floor[m.name]
            for key, value in (check.bounds[m.name].to_dict() if m.name in check.bounds else {}).items():
                props[f"bound_{key}"] = value
            if check.basis:
                props["bound_basis"] = check.basis
            broken = [f for f in check.failures if f.startswith(f"{m.name}:")]
            cases.append(Case(f"{suite}.{check.step}", m.name, props, broken))
    return write_cases(path, suite, cases)
