"""Suites as JUnit XML, the report CI systems read (DESIGN §8).

One `<testsuite>` per workflow, one `<testcase>` per test case. A case whose run failed
gets a `<failure>` listing each failed assertion (and baseline difference) with expected
vs actual, or the workflow's own error when the workflow failed; a run that ended in
`error` (infrastructure: lost worker, timeout) or a case that could not start gets an
`<error>`; a cancelled run, or one still running, is `<skipped>`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from meshhook.timefmt import iso
from testruns.models import ACTIVE_STATUSES, RunStatus, TestRun
from testruns.serializers import run_page_path
from testruns.testcase_models import TestSuiteRun
from testruns.testcase_serializers import suite_runs


@dataclass
class _Case:
    name: str
    classname: str
    seconds: float = 0.0
    outcome: tuple[str, str, str, str] | None = None  # (tag, type, message, text)
    out: str = ""


@dataclass
class _Group:
    name: str
    project: str
    timestamp: str | None
    cases: list[_Case] = field(default_factory=list)


def junit_xml(suites: Sequence[TestSuiteRun]) -> bytes:
    groups: dict[str, _Group] = {}
    projects = {suite.project_id for suite in suites}
    for suite in suites:
        project = suite.project.slug
        for run in suite_runs(suite):
            group = _group(groups, run.workflow.slug, project, suite, len(projects) > 1)
            group.cases.append(_run_case(run, project))
        for problem in suite.start_errors:
            group = _group(groups, problem["workflow"], project, suite, len(projects) > 1)
            case = _Case(problem["name"], f"{project}.{problem['workflow']}")
            case.outcome = ("error", "StartError", problem["error"], problem["error"])
            group.cases.append(case)
    root = ET.Element("testsuites", name="MeshHook test cases")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    seconds = 0.0
    for group in groups.values():
        element = ET.SubElement(root, "testsuite", name=group.name)
        counts = _counts(group.cases)
        for key, value in counts.items():
            totals[key] += value
            element.set(key, str(value))
        group_seconds = sum(case.seconds for case in group.cases)
        seconds += group_seconds
        element.set("time", f"{group_seconds:.3f}")
        if group.timestamp:
            element.set("timestamp", group.timestamp)
        properties = ET.SubElement(element, "properties")
        ET.SubElement(properties, "property", name="project", value=group.project)
        for case in group.cases:
            _case_element(element, case)
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{seconds:.3f}")
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _group(
    groups: dict[str, _Group], slug: str, project: str, suite: TestSuiteRun, qualified: bool
) -> _Group:
    name = f"{project}/{slug}" if qualified else slug
    if name not in groups:
        started = suite.started_at or suite.created_at
        groups[name] = _Group(name, project, (iso(started) or "").removesuffix("Z") or None)
    return groups[name]


def _counts(cases: Sequence[_Case]) -> dict[str, int]:
    tags = [case.outcome[0] if case.outcome else "" for case in cases]
    return {
        "tests": len(cases),
        "failures": tags.count("failure"),
        "errors": tags.count("error"),
        "skipped": tags.count("skipped"),
    }


def _run_case(run: TestRun, project: str) -> _Case:
    name = run.test_case.name if run.test_case else f"run {run.short_id}"
    case = _Case(name, f"{project}.{run.workflow.slug}", (run.duration_ms or 0) / 1000)
    summary = (
        f"Run {run.id} ({run.status}): {run.total_steps} steps, {run.succeeded_count} "
        f"succeeded, {run.failed_count} failed, {run.skipped_count} skipped.\n"
        f"Console: {run_page_path(run.id)}"
    )
    case.out = summary
    failed = [item for item in run.assertion_results if item.get("passed") is False]
    if run.status == RunStatus.FAILED:
        if failed:
            count = sum(1 for item in failed if item.get("target") != "baseline")
            message = f"{_failure_message(count, len(failed) - count)}: {failed[0]['message']}"
            lines = [f"- {item['message']}" for item in failed]
            text = "\n".join([*lines, f"Run error: {run.error}"])
            case.outcome = ("failure", "AssertionError", message, text)
        else:
            message = f"The workflow failed: {run.error}"
            case.outcome = ("failure", "WorkflowFailed", message, run.error)
    elif run.status == RunStatus.ERROR:
        case.outcome = ("error", "RunError", run.error or "The run ended in error.", run.error)
    elif run.status == RunStatus.CANCELLED:
        case.outcome = ("skipped", "", run.error or "The run was cancelled.", "")
    elif run.status in ACTIVE_STATUSES:
        case.outcome = ("skipped", "", f"The run is still {run.status}.", "")
    return case


def _failure_message(assertions: int, differences: int) -> str:
    parts = []
    if assertions:
        parts.append(f"{assertions} assertion{'s' if assertions != 1 else ''} failed")
    if differences:
        parts.append(f"{differences} difference{'s' if differences != 1 else ''} from the baseline")
    return ", ".join(parts)


def _case_element(parent: ET.Element, case: _Case) -> Any:
    element = ET.SubElement(
        parent, "testcase", name=case.name, classname=case.classname, time=f"{case.seconds:.3f}"
    )
    if case.outcome is not None:
        tag, kind, message, text = case.outcome
        child = ET.SubElement(element, tag, message=message)
        if kind:
            child.set("type", kind)
        if text:
            child.text = text
    if case.out:
        ET.SubElement(element, "system-out").text = case.out
    return element
