"""Test cases and suites as the JSON shapes of DESIGN §8: pure functions to dicts."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from meshhook.timefmt import iso
from testruns.assertions import failed_first
from testruns.models import TestRun
from testruns.serializers import run_summary
from testruns.suites import count_statuses, shown_status
from testruns.testcase_models import TestCase, TestSuiteRun

# What case_json reads through foreign keys.
CASE_RELATED = ("workflow__project", "created_by")


def _absolute(path: str, request: HttpRequest | None) -> str:
    return request.build_absolute_uri(path) if request is not None else path


def case_api_path(case: TestCase) -> str:
    return f"/api/test-cases/{case.id}"


def case_json(case: TestCase, request: HttpRequest | None = None) -> dict[str, Any]:
    return {
        "id": str(case.id),
        "workflow": case.workflow.slug,
        "project": case.workflow.project.slug,
        **case.editable_fields(),
        "created_at": iso(case.created_at),
        "updated_at": iso(case.updated_at),
        "created_by": case.created_by.get_username() if case.created_by else None,
        "api_url": _absolute(case_api_path(case), request),
    }


def run_case_fields(run: TestRun) -> dict[str, Any]:
    """What a run's JSON says about its test case: the case's id and every assertion's
    outcome, failed ones first."""
    return {
        "test_case": str(run.test_case_id) if run.test_case_id else None,
        "assertions": failed_first(run.assertion_results),
    }


def suite_api_path(suite: TestSuiteRun) -> str:
    return f"/api/suites/{suite.id}"


def suite_runs(suite: TestSuiteRun) -> list[TestRun]:
    return list(
        suite.runs.select_related(
            "workflow", "workflow_version", "project", "triggered_by", "test_case"
        ).order_by("workflow__slug", "test_case__name", "created_at")
    )


def suite_started(suite: TestSuiteRun, request: HttpRequest | None = None) -> dict[str, Any]:
    return {
        "id": str(suite.id),
        "status": suite.status,
        "url": _absolute(suite_api_path(suite), request),
        "junit_url": _absolute(f"{suite_api_path(suite)}/junit", request),
    }


def suite_json(
    suite: TestSuiteRun, request: HttpRequest | None = None, runs: list[TestRun] | None = None
) -> dict[str, Any]:
    runs = suite_runs(suite) if runs is None else runs
    counts = count_statuses(run.status for run in runs)
    if suite.is_finished:
        passed, failed, error = suite.passed_count, suite.failed_count, suite.error_count
    else:
        passed, failed = counts["passed"], counts["failed"]
        error = counts["error"] + len(suite.start_errors)
    return {
        **suite_started(suite, request),
        "status": shown_status(suite, runs),
        "project": suite.project.slug,
        "workflow": suite.workflow.slug if suite.workflow_id and suite.workflow else None,
        "environment": suite.environment or None,
        "source": suite.source,
        "triggered_by": suite.triggered_by.get_username() if suite.triggered_by else suite.source,
        "created_at": iso(suite.created_at),
        "started_at": iso(suite.started_at),
        "completed_at": iso(suite.completed_at),
        "total": suite.total,
        "passed": passed,
        "failed": failed,
        "error": error,
        "cancelled": counts["cancelled"],
        "active": counts["active"],
        "pass_rate": round(passed / suite.total, 4) if suite.total else None,
        "duration_ms": suite.duration_ms,
        "runs": [suite_run_json(run, request) for run in runs],
        "start_errors": suite.start_errors,
    }


def suite_run_json(run: TestRun, request: HttpRequest | None = None) -> dict[str, Any]:
    return {
        **run_summary(run, request),
        **run_case_fields(run),
        "test_case_name": run.test_case.name if run.test_case else None,
    }
