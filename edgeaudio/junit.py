"""JUnit XML for parity checks, so CI systems render each step and output as a test case."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from edgeaudio.atomic import atomic_path


def write_junit(path: str | os.PathLike, suite: str, checks) -> Path:
    """One <testsuite> named `suite`; a <testcase> per (check, output); failures carry the broken bounds."""
    cases = [(check, metrics) for check in checks for metrics in check.outputs]
    failures = sum(1 for check, m in cases if any(f.startswith(f"{m.name}:") for f in check.failures))
    root = ET.Element("testsuites")
    element = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)), failures=str(failures), errors="0")
    for check, m in cases:
        case = ET.SubElement(element, "testcase", classname=f"{suite}.{check.step}", name=m.name)
        props = ET.SubElement(case, "properties")
        for key, value in m.to_dict().items():
            if key != "name":
                ET.SubElement(props, "property", name=key, value=str(value))
        if m.name in check.noise_floor:  # the reference's own noise, beside the error it bounded
            ET.SubElement(props, "property", name="noise_floor", value=str(check.noise_floor[m.name]))
        for key, value in (check.bounds[m.name].to_dict() if m.name in check.bounds else {}).items():
            if value is not None:
                ET.SubElement(props, "property", name=f"bound_{key}", value=str(value))
        if check.basis:
            ET.SubElement(props, "property", name="bound_basis", value=check.basis)
        broken = [f for f in check.failures if f.startswith(f"{m.name}:")]
        if broken:
            failure = ET.SubElement(case, "failure", message="; ".join(broken), type="ParityError")
            failure.text = "\n".join(broken)
    with atomic_path(path) as tmp:
        ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)
    return Path(path)
