"""`manage.py load_demo_cases`: a test case for every demo workflow, some with assertions,
one with a recorded baseline and one replaying it; idempotent."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from meshhook.demo import demo_definitions, load_demo
from testruns.models import RunStatus, TestRun
from testruns.testcase_models import TestCase

pytestmark = pytest.mark.django_db(transaction=True)


def load() -> str:
    out = StringIO()
    call_command("load_demo_cases", stdout=out)
    return out.getvalue()


def test_every_demo_workflow_gets_test_cases_and_one_a_baseline() -> None:
    load_demo()

    first = load()

    cases = TestCase.objects.select_related("workflow")
    assert {case.workflow.slug for case in cases} == set(demo_definitions())
    assert sum(1 for case in cases if case.assertions) >= 4
    (with_baseline,) = [case for case in cases if case.baseline_run_id]
    assert with_baseline.baseline_run is not None
    assert with_baseline.baseline_run.status == RunStatus.PASSED
    (replaying,) = [case for case in cases if case.replay_from_run_id]
    assert replaying.replay_from_run_id == with_baseline.baseline_run_id
    assert ", baseline run " in first
    assert "created" in first


def test_a_second_load_changes_and_runs_nothing() -> None:
    load_demo()
    load()
    runs, updated = (
        TestRun.objects.count(),
        dict(TestCase.objects.values_list("name", "updated_at")),
    )

    second = load()

    assert TestRun.objects.count() == runs
    assert dict(TestCase.objects.values_list("name", "updated_at")) == updated
    assert second.count(": unchanged") == TestCase.objects.count()


def test_it_needs_the_demo_first() -> None:
    with pytest.raises(CommandError, match=r"run `manage\.py load_demo` first"):
        load()
