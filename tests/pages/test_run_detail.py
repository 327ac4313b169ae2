"""The run page (/test-runs/<id>/): members see it, editors get the controls, outsiders 404."""

from __future__ import annotations

import uuid

import pytest
from rq import Queue

from tests.factories import EDITORS, MEMBERS, Team, finished, make_run, paused
from tests.pages.helpers import text_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("who", MEMBERS)
def test_run_page_for_members(team: Team, who: str, run_queue: Queue) -> None:
    run = paused(make_run(team.workflow, team.owner, payload={"email": "page@example.com"}))
    response = team.client(who).get(f"/test-runs/{run.id}/")
    assert response.status_code == 200
    body = text_of(response)
    assert str(run.id) in body
    assert "page@example.com" in body
    for node_id in ("hook", "map", "hot", "notify", "done"):
        assert node_id in body
    assert ('id="btn-next-step"' in body) is (who in EDITORS)
    assert ('id="btn-cancel"' in body) is (who in EDITORS)


def test_run_page_is_404_for_outsiders_and_unknown_ids(team: Team, run_queue: Queue) -> None:
    run = make_run(team.workflow, team.owner)
    client = team.client("outsider")
    assert client.get(f"/test-runs/{run.id}/").status_code == 404
    assert team.client("owner").get(f"/test-runs/{uuid.uuid4()}/").status_code == 404


def test_run_page_of_a_finished_run_offers_rerun_to_editors_only(
    team: Team, run_queue: Queue
) -> None:
    run = finished(make_run(team.workflow, team.owner))
    editor = team.client("editor").get(f"/test-runs/{run.id}/").content.decode()
    viewer = team.client("viewer").get(f"/test-runs/{run.id}/").content.decode()
    assert 'id="btn-rerun"' in editor
    assert 'id="btn-rerun"' not in viewer
    assert 'id="btn-cancel"' not in editor
