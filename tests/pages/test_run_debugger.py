"""Debugger actions on a paused run: override the next input, toggle breakpoints, test one
step."""

from __future__ import annotations

import pytest
from rq import Queue

from testruns.models import TestRun
from tests.factories import Team, finished, make_run, paused

pytestmark = pytest.mark.django_db


def test_override_input_of_the_next_step(team: Team, run_queue: Queue) -> None:
    run = paused(make_run(team.workflow, team.owner, mode="step"), before="map")
    response = team.client("editor").post(
        f"/test-runs/{run.id}/override-input/", {"input": '{"body": {"score": 99}}'}
    )
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.input_overrides == {"map": {"body": {"score": 99}}}


@pytest.mark.parametrize("bad", ["", "{not json", "{'single': 'quotes'}", "[1,"])
def test_override_input_with_bad_json_is_400(team: Team, bad: str, run_queue: Queue) -> None:
    run = paused(make_run(team.workflow, team.owner, mode="step"))
    response = team.client("owner").post(f"/test-runs/{run.id}/override-input/", {"input": bad})
    assert response.status_code == 400
    run.refresh_from_db()
    assert run.input_overrides == {}


def test_override_input_when_not_paused_is_409(team: Team, run_queue: Queue) -> None:
    run = make_run(team.workflow, team.owner)
    response = team.client("owner").post(f"/test-runs/{run.id}/override-input/", {"input": "1"})
    assert response.status_code == 409
    run.refresh_from_db()
    assert run.input_overrides == {}


def test_input_override_for_a_step_the_run_has_moved_past_is_a_409(
    team: Team, run_queue: Queue
) -> None:
    run = paused(make_run(team.workflow, team.owner, mode="step"), before="hot")
    response = team.client("owner").post(
        f"/test-runs/{run.id}/override-input/", {"node": "map", "input": '{"a": 1}'}
    )
    assert response.status_code == 409
    run.refresh_from_db()
    assert run.input_overrides == {}


def test_toggle_breakpoint(team: Team, run_queue: Queue) -> None:
    run = paused(make_run(team.workflow, team.owner, mode="step"))
    client = team.client("editor")
    assert (
        client.post(f"/test-runs/{run.id}/toggle-breakpoint/", {"node": "hot"}).status_code == 302
    )
    run.refresh_from_db()
    assert run.breakpoints == ["hot"]
    assert (
        client.post(f"/test-runs/{run.id}/toggle-breakpoint/", {"node": "hot"}).status_code == 302
    )
    run.refresh_from_db()
    assert run.breakpoints == []


def test_toggle_breakpoint_on_an_unknown_node_is_400_and_on_a_finished_run_409(
    team: Team, run_queue: Queue
) -> None:
    run = paused(make_run(team.workflow, team.owner, mode="step"))
    client = team.client("owner")
    unknown = client.post(f"/test-runs/{run.id}/toggle-breakpoint/", {"node": "ghost"})
    assert unknown.status_code == 400
    assert "ghost" in unknown.content.decode()
    done = finished(run)
    response = client.post(f"/test-runs/{done.id}/toggle-breakpoint/", {"node": "hot"})
    assert response.status_code == 409
    done.refresh_from_db()
    assert done.breakpoints == []


def test_test_step_starts_a_single_step_run(team: Team, run_queue: Queue) -> None:
    run = finished(make_run(team.workflow, team.owner))
    response = team.client("editor").post(
        f"/test-runs/{run.id}/test-step/", {"node": "map", "input": '{"body": {"x": 1}}'}
    )
    assert response.status_code == 302
    single = TestRun.objects.exclude(pk=run.pk).get()
    assert response["Location"] == f"/test-runs/{single.id}/"
    assert single.only_node == "map"
    assert single.input_overrides == {"map": {"body": {"x": 1}}}
    assert list(single.steps.values_list("node_id", flat=True)) == ["map"]


@pytest.mark.parametrize(
    "data",
    [
        {"node": "map", "input": "{nope"},
        {"node": "map", "input": "[1, 2"},
        {"node": "ghost", "input": "{}"},
        {"node": "", "input": "{}"},
    ],
    ids=["bad-json", "truncated-json", "unknown-node", "no-node"],
)
def test_test_step_with_bad_input_is_400(
    team: Team, data: dict[str, str], run_queue: Queue
) -> None:
    run = finished(make_run(team.workflow, team.owner))
    response = team.client("owner").post(f"/test-runs/{run.id}/test-step/", data)
    assert response.status_code == 400
    assert TestRun.objects.count() == 1
