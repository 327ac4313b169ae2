"""`manage.py test_workflows` on the demo data: exit codes, the progress and summary it
prints, its JUnit XML (read back by junitparser) and JSON report; in this process
(--inline) and through the queue with a worker, and failing clearly with none."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from junitparser import Failure, JUnitXml

from meshhook.demo import load_demo
from testruns.demo_cases import demo_case_specs, load_demo_cases
from testruns.models import RunStatus, TestRun
from testruns.testcase_models import TestCase, TestSuiteRun

pytestmark = pytest.mark.django_db(transaction=True)

DEMO_CASES = len(demo_case_specs())
FAILING = "step.output of 'map' at score: expected > 95, actual 92"


@pytest.fixture
def demo() -> None:
    load_demo()
    load_demo_cases()


def break_one_case() -> TestCase:
    case = TestCase.objects.get(name="hot lead is created and announced")
    case.assertions[2] = {**case.assertions[2], "expected": 95}
    case.save()
    return case


def run_command(*args: str) -> str:
    out = StringIO()
    call_command("test_workflows", *args, stdout=out, no_color=True)
    return out.getvalue()


def test_the_demo_passes_inline(
    demo: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)  # run by a person: source `cli` (CI sets CI=true)
    junit, report = tmp_path / "out.xml", tmp_path / "report.json"

    out = run_command(
        "--environment", "local", "--junit", str(junit), "--json", str(report), "--inline"
    )

    assert f"Running {DEMO_CASES} test cases in this process (cli)." in out
    assert f"[{DEMO_CASES}/{DEMO_CASES}] PASSED" in out
    assert f"{DEMO_CASES} test cases: {DEMO_CASES} passed, 0 failed, 0 errors" in out
    xml = JUnitXml.fromfile(str(junit))
    assert sorted(suite.name for suite in xml) == [
        "failing-payment", "lead-to-crm", "order-fulfilment", "rss-digest",
    ]  # fmt: skip
    assert sum(suite.tests for suite in xml) == DEMO_CASES
    assert all(case.result == [] for suite in xml for case in suite)
    data = json.loads(report.read_text())
    assert (data["status"], data["total"], data["passed"], data["pass_rate"]) == (
        "passed", DEMO_CASES, DEMO_CASES, 1.0,
    )  # fmt: skip
    assert data["suites"][0]["status"] == "passed"
    assert {run["source"] for run in data["suites"][0]["runs"]} == {"cli"}


def test_one_failing_assertion_exits_1_and_is_named(demo: None, tmp_path: Path) -> None:
    break_one_case()
    junit = tmp_path / "out.xml"
    out = StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("test_workflows", "lead-to-crm", "--inline", "--junit", str(junit),
                     stdout=out, no_color=True)  # fmt: skip

    assert raised.value.returncode == 1
    assert str(raised.value) == (
        "1 of 4 test cases did not pass: lead-to-crm › hot lead is created and announced (failed)."
    )
    assert "FAILED    lead-to-crm › hot lead is created and announced" in out.getvalue()
    assert f"      ✗ {FAILING}" in out.getvalue()
    (lead,) = JUnitXml.fromfile(str(junit))
    results = {case.name: case.result for case in lead}
    (failure,) = results["hot lead is created and announced"]
    assert isinstance(failure, Failure)
    assert failure.message == f"1 assertion failed: {FAILING}"


def test_fail_fast_cancels_the_rest(
    demo: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    break_one_case()
    monkeypatch.setenv("CI", "true")

    with pytest.raises(CommandError):
        run_command("lead-to-crm", "--inline", "--fail-fast")

    suite = TestSuiteRun.objects.get()
    statuses = dict(suite.runs.values_list("test_case__name", "status"))
    assert statuses["cold lead is not announced"] == RunStatus.PASSED  # ran first
    assert statuses["hot lead is created and announced"] == RunStatus.FAILED
    assert set(statuses.values()) - {RunStatus.PASSED, RunStatus.FAILED} == {RunStatus.CANCELLED}
    assert set(suite.runs.values_list("source", flat=True)) == {"ci"}
    assert suite.source == "ci"


def test_through_the_queue_with_a_worker(
    demo: None, drain: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    outcome: dict[str, Any] = {}

    def command() -> None:
        try:
            outcome["out"] = run_command("rss-digest", "failing-payment")
        except BaseException as exc:  # handed to the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=command)
    thread.start()
    while thread.is_alive():
        drain()  # this thread is the worker
        thread.join(timeout=0.05)

    assert "error" not in outcome, outcome
    suite = TestSuiteRun.objects.get()
    assert suite.status == "passed"
    assert suite.runs.count() == 2
    assert "Running 2 test cases on the workers (cli)." in outcome["out"]
    assert "2 test cases: 2 passed, 0 failed, 0 errors" in outcome["out"]


def test_no_worker_fails_clearly(demo: None) -> None:
    with pytest.raises(CommandError) as raised:
        run_command("rss-digest", "--worker-timeout", "0.3")

    assert raised.value.returncode == 2
    assert str(raised.value).startswith("No worker picked up the test runs within 0.3 s.")
    assert "--inline" in str(raised.value)
    latest = TestRun.objects.filter(test_case__isnull=False).order_by("-created_at").first()
    assert latest is not None
    assert latest.status == RunStatus.CANCELLED


def test_what_there_is_to_run(demo: None) -> None:
    with pytest.raises(CommandError, match=r"No workflow 'nope'\."):
        run_command("nope")
    with pytest.raises(CommandError, match=r"No project 'nope'\."):
        run_command("--project", "nope")
    TestCase.objects.all().delete()
    with pytest.raises(CommandError, match="No test cases to run"):
        run_command("--inline")


@pytest.mark.timeout(300)
def test_the_acceptance_commands_exit_0_then_1(tmp_path: Path) -> None:
    """As a user types them, in fresh processes on a fresh SQLite database and embedded
    Redis of their own (nothing shared with this test process)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CI")}
    env.update(MESHHOOK_VAR_DIR=str(tmp_path), DEBUG="1")

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=env,
            capture_output=True, text=True, timeout=240,
        )  # fmt: skip

    # `make run` does these three; one process for them keeps the test short.
    setup = (
        "from django.core.management import call_command as c;"
        "c('migrate', verbosity=0); c('load_demo'); c('load_demo_cases')"
    )
    done = manage("shell", "-c", setup)
    assert done.returncode == 0, done.stdout + done.stderr
    junit = tmp_path / "out.xml"

    passed = manage("test_workflows", "--environment", "local", "--junit", str(junit), "--inline")
    with sqlite3.connect(tmp_path / "meshhook.sqlite3") as database:
        name = "hot lead is created and announced"
        (stored,) = database.execute(
            "SELECT assertions FROM testruns_testcase WHERE name = ?", [name]
        ).fetchone()
        assertions = json.loads(stored)
        assertions[2]["expected"] = 95
        database.execute(
            "UPDATE testruns_testcase SET assertions = ? WHERE name = ?",
            [json.dumps(assertions), name],
        )
    failed = manage("test_workflows", "--environment", "local", "--inline")

    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert sum(suite.tests for suite in JUnitXml.fromfile(str(junit))) == DEMO_CASES
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert FAILING in failed.stdout
    assert "hot lead is created and announced (failed)" in failed.stderr
