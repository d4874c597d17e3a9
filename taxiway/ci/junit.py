"""One JUnit XML report for every kind of test `taxiway test` runs, so any CI shows them the same way."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Case:
    """One test's outcome: ``failure`` holds the message when it failed, ``skipped`` why it did not run.

    Example:
        >>> Case("unit", "test_pipeline::test_builds", 0.2).passed
        True
    """

    suite: str
    name: str
    seconds: float = 0.0
    failure: str | None = None
    skipped: str | None = None

    @property
    def passed(self) -> bool:
        return self.failure is None and self.skipped is None


@dataclass
class Report:
    """The cases of one `taxiway test`, grouped by kind (suite) in the order they ran."""

    cases: list[Case] = field(default_factory=list)

    @property
    def failed(self) -> list[Case]:
        return [case for case in self.cases if case.failure is not None]

    def write(self, path: Path) -> Path:
        """Write the report as JUnit XML (one ``testsuite`` per kind) and return ``path``.

        Example:
            >>> import tempfile, pathlib
            >>> r = Report([Case("unit", "a"), Case("unit", "b", failure="boom")])
            >>> text = r.write(pathlib.Path(tempfile.mkdtemp()) / "j.xml").read_text()
            >>> 'tests="2"' in text and 'failures="1"' in text
            True
        """
        root = ET.Element("testsuites", name="taxiway test")
        for suite in dict.fromkeys(case.suite for case in self.cases):
            cases = [case for case in self.cases if case.suite == suite]
            element = ET.SubElement(
                root,
                "testsuite",
                name=suite,
                tests=str(len(cases)),
                failures=str(sum(1 for c in cases if c.failure is not None)),
                errors="0",
                skipped=str(sum(1 for c in cases if c.skipped is not None)),
                time=f"{sum(c.seconds for c in cases):.3f}",
            )
            for case in cases:
                item = ET.SubElement(
                    element, "testcase", classname=suite, name=case.name, time=f"{case.seconds:.3f}"
                )
                if case.failure is not None:
                    ET.SubElement(item, "failure", message=case.failure[:500]).text = case.failure
                elif case.skipped is not None:
                    ET.SubElement(item, "skipped", message=case.skipped)
        path.parent.mkdir(parents=True, exist_ok=True)
        ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
        return path


def read_cases(path: Path, suite: str) -> list[Case]:
    """The test cases of a JUnit XML file pytest wrote, as cases of ``suite``."""
    root = ET.parse(path).getroot()
    cases = []
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}".strip(":")
        seconds = float(case.get("time") or 0.0)
        problem = next(iter((*case.findall("failure"), *case.findall("error"))), None)
        skipped = case.find("skipped")
        failure = None
        if problem is not None:
            failure = (problem.get("message") or problem.text or "failed").strip() or "failed"
        cases.append(
            Case(
                suite,
                name,
                seconds,
                failure=failure,
                skipped=(skipped.get("message") or "skipped") if skipped is not None else None,
            )
        )
    return cases
