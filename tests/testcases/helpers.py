"""Test cases made the way the API makes them, and their runs driven by a burst worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.test import TestCase as DjangoTestCase

from meshhook.models import Workflow
from testruns.models import TestRun
from testruns.testcase_models import TestCase
from testruns.testcases import save_test_case, start_case_run


def committed() -> Any:
    """Inside a test's transaction: run the on-commit callbacks (the enqueue) at the end."""
    return DjangoTestCase.captureOnCommitCallbacks(execute=True)


def make_case(workflow: Workflow, user: Any = None, **fields: Any) -> TestCase:
    data: dict[str, Any] = {"name": "hot lead", "payload": {"name": "Ada", "score": 90}}
    data.update(fields)
    return save_test_case(workflow, data, user=user)


def run_case(
    case: TestCase, drain: Callable[[], int], user: Any = None, **overrides: Any
) -> TestRun:
    """Start a run of `case`, drive it to its end with the burst worker, reload it.
    For tests marked `django_db(transaction=True)`: the job is enqueued on commit."""
    run = start_case_run(case, user=user, source=TestRun.Source.API, overrides=overrides)
    drain()
    run.refresh_from_db()
    return run
