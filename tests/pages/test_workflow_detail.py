"""The workflow page (/workflows/<slug>/) and its export, for members, outsiders and
older versions."""

from __future__ import annotations

import json

import pytest

from tests.factories import EDITORS, MEMBERS, Team, definition, make_workflow
from tests.pages.helpers import text_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("who", MEMBERS)
def test_workflow_detail_for_members(team: Team, who: str) -> None:
    response = team.client(who).get(team.url("/workflows/lead-flow/"))
    assert response.status_code == 200
    body = text_of(response)
    assert "Lead flow" in body
    assert '"expression": "body"' in body  # the definition JSON
    edit_link = f'href="/workflows/lead-flow/edit/?project={team.project.slug}"'
    assert (edit_link in body) is (who in EDITORS)


def test_workflow_detail_is_404_for_outsiders_and_unknown_slugs(team: Team) -> None:
    assert team.client("outsider").get("/workflows/lead-flow/").status_code == 404
    assert team.client("outsider").get(team.url("/workflows/lead-flow/")).status_code == 404
    assert team.client("owner").get(team.url("/workflows/nope/")).status_code == 404


def test_workflow_detail_shows_the_version_asked_for(team: Team) -> None:
    changed = definition()
    changed["nodes"][1]["config"]["expression"] = "body.lead"
    make_workflow(team.project, changed, team.owner)
    client = team.client("viewer")

    latest = text_of(client.get(team.url("/workflows/lead-flow/")))
    first = text_of(client.get(team.url("/workflows/lead-flow/?version=1")))

    assert '"expression": "body.lead"' in latest
    assert "older version" not in latest
    assert '"expression": "body.lead"' not in first
    assert '"expression": "body"' in first
    assert "older version" in first
    assert client.get(team.url("/workflows/lead-flow/?version=9")).status_code == 404
    # Not a number: the latest version rather than an error.
    assert client.get(team.url("/workflows/lead-flow/?version=abc")).status_code == 200


@pytest.mark.parametrize("who", MEMBERS)
def test_export_downloads_the_definition(team: Team, who: str) -> None:
    response = team.client(who).get(team.url("/workflows/lead-flow/export/"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == 'attachment; filename="lead-flow-v1.json"'
    assert json.loads(response.content) == definition()


def test_export_of_an_older_version(team: Team) -> None:
    make_workflow(team.project, definition(name="Renamed"), team.owner)
    client = team.client("viewer")
    old = client.get(team.url("/workflows/lead-flow/export/?version=1"))
    new = client.get(team.url("/workflows/lead-flow/export/"))
    assert old["Content-Disposition"] == 'attachment; filename="lead-flow-v1.json"'
    assert json.loads(old.content)["name"] == "Lead flow"
    assert new["Content-Disposition"] == 'attachment; filename="lead-flow-v2.json"'
    assert json.loads(new.content)["name"] == "Renamed"
    assert client.get(team.url("/workflows/lead-flow/export/?version=7")).status_code == 404


def test_export_is_404_for_outsiders(team: Team) -> None:
    response = team.client("outsider").get(team.url("/workflows/lead-flow/export/"))
    assert response.status_code == 404
    assert "Content-Disposition" not in response
