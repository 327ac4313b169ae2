"""Re-runs from the run page: the same or the current version, from a step, with a pinned
output."""

from __future__ import annotations

import pytest
from rq import Queue

from testruns.models import TestRun
from tests.factories import EDITORS, Team, definition, finished, make_run, make_workflow

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("who", EDITORS)
def test_rerun_redirects_to_the_new_run(team: Team, who: str, run_queue: Queue) -> None:
    run = finished(make_run(team.workflow, team.owner, payload={"n": 1}))
    response = team.client(who).post(f"/test-runs/{run.id}/rerun/")
    assert response.status_code == 302
    new = TestRun.objects.exclude(pk=run.pk).get()
    assert response["Location"] == f"/test-runs/{new.id}/"
    assert new.source_run == run
    assert new.payload == {"n": 1}
    assert new.triggered_by == team.user(who)
    assert new.source == TestRun.Source.CONSOLE
    page = team.client("viewer").get(f"/test-runs/{new.id}/")
    assert page.status_code == 200
    assert run.short_id in page.content.decode()


def test_rerun_on_the_current_version(team: Team, run_queue: Queue) -> None:
    run = finished(make_run(team.workflow, team.owner))
    make_workflow(team.project, definition(name="v2"), team.owner)
    client = team.client("owner")
    client.post(f"/test-runs/{run.id}/rerun/", {"version": "original"})
    client.post(f"/test-runs/{run.id}/rerun/", {"version": "current"})
    versions = sorted(
        TestRun.objects.exclude(pk=run.pk).values_list("workflow_version__number", flat=True)
    )
    assert versions == [1, 2]


def test_rerun_from_a_step_reuses_earlier_steps(team: Team, run_queue: Queue) -> None:
    run = finished(make_run(team.workflow, team.owner))
    response = team.client("owner").post(f"/test-runs/{run.id}/rerun-from/", {"from_step": "map"})
    assert response.status_code == 302
    new = TestRun.objects.exclude(pk=run.pk).get()
    assert new.from_step == "map"
    reused = new.steps.get(node_id="hook")
    assert reused.reused is True
    assert reused.output == {"node": "hook"}
    assert new.steps.get(node_id="map").reused is False


def test_rerun_from_a_step_that_did_not_run_is_400(team: Team, run_queue: Queue) -> None:
    run = finished(make_run(team.workflow, team.owner))
    response = team.client("owner").post(
        f"/test-runs/{run.id}/rerun-from/", {"from_step": "notify"}
    )
    assert response.status_code == 400
    assert "did not run" in response.content.decode()
    assert TestRun.objects.count() == 1


def test_pin_an_output_and_rerun(team: Team, run_queue: Queue) -> None:
    run = finished(make_run(team.workflow, team.owner))
    client = team.client("owner")
    response = client.post(f"/test-runs/{run.id}/rerun/", {"pin_step": "map"})
    assert response.status_code == 302
    new = TestRun.objects.exclude(pk=run.pk).get()
    assert new.mocks == {"map": {"node": "map"}}
    missing = client.post(f"/test-runs/{run.id}/rerun/", {"pin_step": "notify"})
    assert missing.status_code == 400
    assert TestRun.objects.count() == 2
