"""Per-run limits (RUN_MAX_EVENTS, RUN_MAX_STEP_RECORDS, RUN_MAX_STORED_BYTES): a run that
passes one stops at once, `failed`, with a message naming the setting, and stores no more
than the limit allows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User

from testruns.models import RunEvent, RunStatus, StepRun, StepStatus, TestRun
from tests.factories import make_user, make_workflow, personal_project, start_run
from tests.testruns.big_runs import big_payload, loop_definition, payload_definition

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def user() -> User:
    return make_user("limited")


def loop_run(user: User, items: int, body: int = 1) -> TestRun:
    workflow = make_workflow(personal_project(user), loop_definition(body=body, max_items=1000))
    return start_run(workflow, user, payload={"items": [{"n": n} for n in range(items)]})


def test_a_loop_past_the_event_limit_stops_mid_loop_and_fails_naming_it(
    user: User, drain: Callable[[], int], settings: Any
) -> None:
    settings.RUN_MAX_EVENTS = 200
    run = loop_run(user, 1_000)  # 2,000+ events without the limit
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "RUN_MAX_EVENTS" in run.error
    assert "200 events" in run.error
    loop = StepRun.objects.get(run=run, node_id="each", iteration__isnull=True)
    assert loop.status == StepStatus.FAILED
    assert "RUN_MAX_EVENTS" in loop.error
    # Stopped where the limit was passed: the items were never stored, the rest skipped.
    assert not StepRun.objects.filter(run=run, iteration__isnull=False).exists()
    assert StepRun.objects.get(run=run, node_id="done").status == StepStatus.SKIPPED
    assert RunEvent.objects.filter(run=run).count() < 260
    types = list(run.events.order_by("seq").values_list("type", flat=True))
    assert types[-1] == "run_finished"
    assert types.count("run_finished") == 1


def test_a_loop_past_the_step_record_limit_fails_naming_it(
    user: User, drain: Callable[[], int], settings: Any
) -> None:
    settings.RUN_MAX_STEP_RECORDS = 100
    run = loop_run(user, 500, body=2)  # 1,000 item records
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "RUN_MAX_STEP_RECORDS" in run.error
    assert "100 step records" in run.error
    assert StepRun.objects.filter(run=run).count() <= 100
    assert run.total_steps == StepRun.objects.filter(run=run).count()


def test_a_step_whose_output_passes_the_byte_limit_is_failed_without_its_output(
    user: User, drain: Callable[[], int], settings: Any
) -> None:
    settings.RUN_MAX_STORED_BYTES = 150_000
    workflow = make_workflow(personal_project(user), payload_definition())
    run = start_run(workflow, user, payload=big_payload(60_000))  # trigger 60 KB, copy 120 KB
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "RUN_MAX_STORED_BYTES" in run.error
    steps = {s.node_id: s for s in StepRun.objects.filter(run=run)}
    assert steps["hook"].status == StepStatus.SUCCEEDED
    assert steps["copy"].status == StepStatus.FAILED
    assert steps["copy"].output is None
    assert "RUN_MAX_STORED_BYTES" in steps["copy"].error
    assert steps["pick"].status == StepStatus.SKIPPED


def test_runs_within_the_limits_are_untouched(
    user: User, drain: Callable[[], int], settings: Any
) -> None:
    settings.RUN_MAX_EVENTS = 500
    settings.RUN_MAX_STEP_RECORDS = 200
    run = loop_run(user, 50, body=2)  # 100 item records, about 210 events
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.PASSED, run.error
    assert StepRun.objects.filter(run=run, iteration__isnull=False).count() == 100
