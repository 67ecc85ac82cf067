"""Where the metric properties go in the JUnit XML, by pytest's ``junit_family``.

- ``xunit1`` / ``legacy``: on each ``<testcase>`` as ``<property>`` entries (pytest's
  ``record_property`` layout).
- ``xunit2`` (pytest's default): the schema pytest targets there (Jenkins/Surefire ``junit-10.xsd``)
  allows ``<properties>`` only on a ``<testsuite>``, so after pytest has written the file our
  entries move to the suite, named ``CLASSNAME::NAME#PROPERTY``. The file then validates.

:func:`junit_properties` reads either layout back as the same per-testcase lists.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from pytest_llmtrust.recording import PROPERTY_NAMES
from pytest_llmtrust.results import RESULT_PROPERTIES

if TYPE_CHECKING:
    from pathlib import Path

OURS = frozenset((*PROPERTY_NAMES, *RESULT_PROPERTIES))
SEP = "#"


def case_id(case: ET.Element) -> str:
    """``classname::name`` of a ``<testcase>``."""
    return f"{case.get('classname', '')}::{case.get('name', '')}"


def move_to_suites(path: Path) -> int:
    """Move our ``<testcase>`` properties to their ``<testsuite>``; returns how many moved."""
    from pytest_llmtrust.atomic import atomic_write

    tree = ET.parse(path)
    moved = 0
    for suite in tree.getroot().iter("testsuite"):
        lifted: list[ET.Element] = []
        for case in suite.findall("testcase"):
            props = case.find("properties")
            if props is None:
                continue
            for prop in list(props):
                if prop.get("name") in OURS:
                    props.remove(prop)
                    name = f"{case_id(case)}{SEP}{prop.get('name')}"
                    lifted.append(ET.Element("property", name=name, value=prop.get("value", "")))
            if not len(props):
                case.remove(props)
        if not lifted:
            continue
        holder = suite.find("properties")
        if holder is None:
            holder = ET.Element("properties")
            suite.insert(0, holder)
        holder.extend(lifted)
        moved += len(lifted)
    if moved:
        text = ET.tostring(tree.getroot(), encoding="unicode")
        atomic_write(path, ('<?xml version="1.0" encoding="utf-8"?>' + text).encode("utf-8"))
    return moved


def junit_properties(path: Path) -> dict[str, list[tuple[str, str]]]:
    """``(name, value)`` properties per testcase, either layout.

    Keyed by ``classname::name``, and by ``name`` for the first testcase of that name.
    """
    out: dict[str, list[tuple[str, str]]] = {}
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        pairs = [(p.get("name", ""), p.get("value", "")) for p in case.iter("property")]
        out[case_id(case)] = pairs
        out.setdefault(case.get("name", ""), pairs)
    for suite in root.iter("testsuite"):
        holder = suite.find("properties")
        for prop in holder if holder is not None else []:
            cid, sep, name = prop.get("name", "").rpartition(SEP)
            if not sep or name not in OURS:
                continue
            out.setdefault(cid, []).append((name, prop.get("value", "")))  # the same list as under its name
    return out
