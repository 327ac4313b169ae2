"""Run controls (/test-runs/<id>/<action>/): who may use them, cancel, advance and continue,
and a step-mode run driven from the pages through a real worker."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from rq import Queue

from testruns.models import RunStatus, StepStatus, TestRun
from tests.factories import EDITORS, Team, make_run, paused, run_form

pytestmark = pytest.mark.django_db


ACTIONS = [
    "cancel",
    "advance",
    "continue",
    "rerun",
    "rerun-from",
    "override-input",
    "toggle-breakpoint",
    "test-step",
]


ACTION_DATA = {
    "rerun-from": {"from_step": "map"},
    "override-input": {"input": '{"score": 99}'},
    "toggle-breakpoint": {"node": "hot"},
    "test-step": {"node": "map", "input": '{"body": {}}'},
}


def snapshot(run: TestRun) -> tuple[Any, ...]:
    run.refresh_from_db()
    return (run.status, run.breakpoints, run.input_overrides, TestRun.objects.count())


@pytest.mark.parametrize("action", ACTIONS)
def test_actions_are_404_for_outsiders(team: Team, action: str, run_queue: Queue) -> None:
    run = paused(make_run(team.workflow, team.owner))
    before = snapshot(run)
    response = team.client("outsider").post(
        f"/test-runs/{run.id}/{action}/", ACTION_DATA.get(action, {})
    )
    assert response.status_code == 404
    assert snapshot(run) == before


@pytest.mark.parametrize("action", ACTIONS)
def test_actions_are_403_for_viewers(team: Team, action: str, run_queue: Queue) -> None:
    run = paused(make_run(team.workflow, team.owner))
    before = snapshot(run)
    response = team.client("viewer").post(
        f"/test-runs/{run.id}/{action}/", ACTION_DATA.get(action, {})
    )
    assert response.status_code == 403
    assert "Viewers cannot control test runs." in response.content.decode()
    assert snapshot(run) == before


@pytest.mark.parametrize("action", ACTIONS)
def test_actions_need_post(team: Team, action: str, run_queue: Queue) -> None:
    run = paused(make_run(team.workflow, team.owner))
    assert team.client("owner").get(f"/test-runs/{run.id}/{action}/").status_code == 405


def test_unknown_action_and_unknown_run_are_404(team: Team, run_queue: Queue) -> None:
    run = paused(make_run(team.workflow, team.owner))
    client = team.client("owner")
    assert client.post(f"/test-runs/{run.id}/explode/").status_code == 404
    assert client.post(f"/test-runs/{uuid.uuid4()}/cancel/").status_code == 404


@pytest.mark.parametrize("who", EDITORS)
def test_cancel_then_cancel_again_is_409(team: Team, who: str, run_queue: Queue) -> None:
    run = make_run(team.workflow, team.owner)
    client = team.client(who)

    response = client.post(f"/test-runs/{run.id}/cancel/")

    assert response.status_code == 302
    assert response["Location"] == f"/test-runs/{run.id}/"
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    again = client.post(f"/test-runs/{run.id}/cancel/")
    assert again.status_code == 409
    assert "cancelled" in again.content.decode()


@pytest.mark.parametrize("who", EDITORS)
def test_advance_a_paused_run(team: Team, who: str, run_queue: Queue) -> None:
    run = paused(make_run(team.workflow, team.owner, mode="step"))
    response = team.client(who).post(f"/test-runs/{run.id}/advance/")
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    assert run.steps_to_run == 1
    assert run.release_node == "map"


@pytest.mark.parametrize("status", [RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PASSED])
def test_advancing_or_continuing_a_run_that_is_not_paused_is_409(
    team: Team, status: str, run_queue: Queue
) -> None:
    run = make_run(team.workflow, team.owner, mode="step")
    TestRun.objects.filter(pk=run.pk).update(status=status)
    client = team.client("owner")
    for action in ("advance", "continue"):
        response = client.post(f"/test-runs/{run.id}/{action}/")
        assert response.status_code == 409
        assert "not paused" in response.content.decode()
    run.refresh_from_db()
    assert run.status == status


def test_continue_until_a_node(team: Team, run_queue: Queue) -> None:
    run = paused(make_run(team.workflow, team.owner, mode="step"))
    response = team.client("editor", htmx=True).post(
        f"/test-runs/{run.id}/continue/", {"until": "notify"}
    )
    # The page is not reloaded: its socket shows the change.
    assert response.status_code == 204
    assert "HX-Redirect" not in response
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    assert run.steps_to_run is None
    # A one-off stop, not a breakpoint that would outlive this run.
    assert run.run_until == "notify"
    assert "notify" not in run.breakpoints


@pytest.mark.django_db(transaction=True)
def test_step_mode_run_from_the_form_through_the_worker(
    team: Team, run_queue: Queue, drain: Callable[[], int]
) -> None:
    client = team.client("editor")
    response = client.post(
        team.url("/workflows/lead-flow/test-run/"),
        run_form(mode="step", payload=json.dumps({"score": 95})),
    )
    assert response.status_code == 302
    run = TestRun.objects.get()
    assert run_queue.count == 1
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.PAUSED
    assert run.paused_before == "hook"

    assert client.post(f"/test-runs/{run.id}/advance/").status_code == 302
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.PAUSED
    assert run.paused_before == "map"
    assert run.steps.get(node_id="hook").status == StepStatus.SUCCEEDED

    assert client.post(f"/test-runs/{run.id}/continue/").status_code == 302
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.PASSED
    page = team.client("viewer").get(f"/test-runs/{run.id}/")
    assert page.status_code == 200
    assert "passed" in page.content.decode()
    assert client.post(f"/test-runs/{run.id}/advance/").status_code == 409
