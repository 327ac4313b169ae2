"""The verdict of a test-case run, end to end through the queue and a burst worker: passed
only when the workflow passed and every assertion held; decided once, when the run ends,
against the checks frozen when it started."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from testruns.models import RunStatus
from testruns.services import cancel_run
from testruns.testcase_models import CaseRunSpec
from testruns.testcases import start_case_run
from tests.api.helpers import send
from tests.factories import Team, definition, make_workflow
from tests.testcases.helpers import make_case, run_case

pytestmark = pytest.mark.django_db(transaction=True)

HOLDS = {"target": "step.output", "node": "map", "path": "score", "op": "gt", "expected": 80}
FAILS = {"target": "step.output", "node": "map", "path": "score", "op": "gt", "expected": 95}
NOTIFIED = {"target": "step.status", "node": "notify", "op": "equals", "expected": "succeeded"}


def test_every_assertion_holds_and_the_run_passes(team: Team, drain: Callable[[], int]) -> None:
    case = make_case(team.workflow, assertions=[HOLDS, NOTIFIED])

    run = run_case(case, drain, team.owner)

    assert run.status == RunStatus.PASSED
    assert run.error == ""
    assert run.test_case_id == case.id
    assert [result["passed"] for result in run.assertion_results] == [True, True]
    assert run.events.get(type="run_finished").data == {"status": "passed"}


def test_a_failed_assertion_fails_a_passing_workflow_and_is_named(
    team: Team, drain: Callable[[], int]
) -> None:
    case = make_case(team.workflow, assertions=[HOLDS, FAILS, NOTIFIED])

    run = run_case(case, drain)

    assert run.status == RunStatus.FAILED
    assert run.error == (
        "1 of 3 assertions failed: step.output of 'map' at score: expected > 95, actual 90"
    )
    finished = run.events.get(type="run_finished")
    assert finished.data == {"status": "failed"}
    assert finished.message == f"Test run failed: {run.error}"
    # Every step did what it should: only the test case's check failed.
    assert run.steps.filter(status="failed").count() == 0


def test_a_failing_workflow_fails_even_when_its_assertions_hold(
    team: Team, drain: Callable[[], int]
) -> None:
    failing = make_workflow(team.project, definition(
        "failing",
        nodes=[{"id": "hook", "type": "webhook_trigger"},
               {"id": "stop", "type": "terminate",
                "config": {"status": "failure", "reason": "card declined"}}],
        edges=[{"source": "hook", "target": "stop"}],
    ))  # fmt: skip
    case = make_case(failing, assertions=[{"target": "run.status", "op": "equals",
                                          "expected": "failed"}])  # fmt: skip

    run = run_case(case, drain)

    assert run.assertion_results[0]["passed"] is True
    assert run.status == RunStatus.FAILED
    assert run.error == "card declined"


def test_a_cancelled_run_is_not_judged(team: Team, drain: Callable[[], int]) -> None:
    case = make_case(team.workflow, assertions=[HOLDS])
    run = start_case_run(case, user=team.owner, source="api")

    cancel_run(run)
    drain()

    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    (result,) = run.assertion_results
    assert result["passed"] is None
    assert result["message"] == (
        "step.output of 'map' at score: not evaluated, the run was cancelled"
    )


def test_the_checks_are_those_of_the_case_when_the_run_started(
    team: Team, drain: Callable[[], int]
) -> None:
    case = make_case(team.workflow, assertions=[HOLDS])
    run = start_case_run(case, user=team.owner, source="api")
    assert run.assertion_results[0]["passed"] is None  # pending until the run ends
    case.assertions = [FAILS]
    case.save()

    drain()

    run.refresh_from_db()
    assert run.status == RunStatus.PASSED
    assert CaseRunSpec.objects.get(run=run).assertions == [HOLDS]


def test_overrides_win_over_the_case(team: Team, drain: Callable[[], int]) -> None:
    case = make_case(team.workflow, assertions=[HOLDS])

    run = run_case(case, drain, payload={"name": "Bob", "score": 10})

    assert run.payload == {"name": "Bob", "score": 10}
    assert run.status == RunStatus.FAILED
    assert "actual 10" in run.error


def test_the_run_json_lists_failed_assertions_first(team: Team, drain: Callable[[], int]) -> None:
    case = make_case(team.workflow, assertions=[HOLDS, NOTIFIED, FAILS])
    run = run_case(case, drain)

    data = send(team.bearer(team.viewer), "GET", f"/api/test-runs/{run.id}").data

    assert data["test_case"] == str(case.id)
    assert [(item["expected"], item["passed"]) for item in data["assertions"]] == [
        (95, False), (80, True), ("succeeded", True),
    ]  # fmt: skip
    assert set(data["assertions"][0]) == {
        "target", "node", "path", "op", "expected", "actual", "passed", "message",
    }  # fmt: skip


def test_a_run_without_a_test_case_is_untouched(team: Team, drain: Callable[[], int]) -> None:
    from tests.factories import make_run

    run = make_run(team.workflow, team.owner, payload={"score": 90})
    drain()

    run.refresh_from_db()
    assert run.status == RunStatus.PASSED
    assert run.assertion_results == []
    data = send(team.bearer(team.owner), "GET", f"/api/test-runs/{run.id}").data
    assert data["test_case"] is None
    assert data["assertions"] == []
