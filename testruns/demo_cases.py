"""The demo's test cases (`manage.py load_demo_cases`, after `load_demo`).

`demo_cases.json` beside this file lists them: each names its demo workflow and starts
from the workflow's sample payload and headers (`payload_changes` are merged into the
payload). The outbound steps answer from mocks, so every case runs offline and passes.
`"baseline": "record"` makes the loader run the case once (in this process) and keep that
run as its baseline; `"replay_from": "<case>"` replays that case's baseline run.

Idempotent: a second call changes nothing (and runs nothing) when the cases are as listed.
Kept in this app because the core app never imports a feature app.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model

from meshhook.demo import DEMO_USERNAME, sample_for
from meshhook.models import Project
from testruns.cli_support import drive_inline, redis_available
from testruns.models import RunStatus, TestRun
from testruns.testcase_models import TestCase
from testruns.testcases import save_test_case, start_case_run

CASES_FILE = Path(__file__).resolve().parent / "demo_cases.json"
RECORD_TIMEOUT_SECONDS = 60.0

Report = Callable[[str], None]


class DemoMissing(Exception):
    pass


@cache
def _read() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(CASES_FILE.read_text(encoding="utf-8"))
    return cases


def demo_case_specs() -> list[dict[str, Any]]:
    return copy.deepcopy(_read())


def case_data(spec: dict[str, Any]) -> dict[str, Any]:
    """The test case's fields as the API takes them (baseline and replay set apart)."""
    sample = sample_for(spec["workflow"])
    payload = sample.payload
    if isinstance(payload, dict):
        payload = {**payload, **spec.get("payload_changes", {})}
    return {
        "name": spec["name"],
        "description": spec.get("description", ""),
        "payload": payload,
        "headers": sample.headers,
        "environment": spec.get("environment", "local"),
        "mocks": spec.get("mocks", {}),
        "assertions": spec.get("assertions", []),
        "volatile_paths": spec.get("volatile_paths", []),
    }


def load_demo_cases(*, report: Report | None = None) -> list[TestCase]:
    say: Report = report or (lambda line: None)
    user = get_user_model().objects.filter(username=DEMO_USERNAME).first()
    project = Project.objects.filter(personal_for=user).first() if user else None
    if user is None or project is None:
        raise DemoMissing("No demo project: run `manage.py load_demo` first.")
    cases: dict[str, TestCase] = {}
    for spec in demo_case_specs():
        workflow = project.workflows.get(slug=spec["workflow"])
        data = case_data(spec)
        existing = TestCase.objects.filter(workflow=workflow, name=spec["name"]).first()
        replay = cases[spec["replay_from"]].baseline_run if spec.get("replay_from") else None
        data["replay_from_run"] = str(replay.id) if replay else None
        if existing is not None:
            data["baseline_run"] = (
                str(existing.baseline_run_id) if existing.baseline_run_id else None
            )
        if existing is not None and _same(existing, data):
            state = "unchanged"
            case = existing
        else:
            case = save_test_case(workflow, data, user=user, existing=existing)
            state = "updated" if existing else "created"
        if spec.get("baseline") == "record" and case.baseline_run_id is None:
            run = _record(case, user)
            case.baseline_run = run
            case.save(update_fields=["baseline_run"])
            state += f", baseline run {run.short_id} recorded"
        say(f"Test case {workflow.slug} › {case.name}: {state}")
        cases[case.name] = case
    return list(cases.values())


def _same(case: TestCase, data: dict[str, Any]) -> bool:
    replay = str(case.replay_from_run_id) if case.replay_from_run_id else None
    stored = {
        "description": case.description, "payload": case.payload, "headers": case.headers,
        "environment": case.environment_name, "mocks": case.mocks,
        "assertions": case.assertions, "volatile_paths": case.volatile_paths,
        "replay_from_run": replay,
    }  # fmt: skip
    return all(stored[key] == data[key] for key in stored)


def _record(case: TestCase, user: Any) -> TestRun:
    """Run the case once in this process; the run becomes its baseline if it passed."""
    with redis_available(start_embedded=True):
        run = start_case_run(case, user=user, source=TestRun.Source.CLI)
        run = drive_inline(run, timeout=RECORD_TIMEOUT_SECONDS)
    if run.status != RunStatus.PASSED:
        raise DemoMissing(
            f"Recording the baseline of '{case.name}' failed: run {run.short_id} {run.status}"
            f" ({run.error})."
        )
    return run
