"""Who may open the workflow editor (/workflows/new/, /workflows/<slug>/edit/): owners and
editors; viewers get 403, outsiders 404, and neither saves anything."""

from __future__ import annotations

import json

import pytest

from meshhook.models import Workflow, WorkflowVersion
from tests.factories import EDITORS, Team, definition, personal_project
from tests.pages.helpers import text_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("who", EDITORS)
def test_edit_page_for_owners_and_editors(team: Team, who: str) -> None:
    response = team.client(who).get(team.url("/workflows/lead-flow/edit/"))
    assert response.status_code == 200
    body = text_of(response)
    assert "Edit Lead flow" in body
    assert '"slug": "lead-flow"' in body


def test_edit_page_is_403_for_viewers_and_saves_nothing(team: Team) -> None:
    client = team.client("viewer")
    page = client.get(team.url("/workflows/lead-flow/edit/"))
    post = client.post(
        team.url("/workflows/lead-flow/edit/"), {"definition": json.dumps(definition(name="X"))}
    )
    for response in (page, post):
        assert response.status_code == 403
        assert "Read-only access" in response.content.decode()
        assert team.project.name in response.content.decode()
    assert WorkflowVersion.objects.count() == 1


def test_edit_page_is_404_for_outsiders(team: Team) -> None:
    client = team.client("outsider")
    assert client.get(team.url("/workflows/lead-flow/edit/")).status_code == 404
    response = client.post(
        team.url("/workflows/lead-flow/edit/"), {"definition": json.dumps(definition(name="X"))}
    )
    assert response.status_code == 404
    assert WorkflowVersion.objects.count() == 1


@pytest.mark.parametrize("who", EDITORS)
def test_new_workflow_page_for_owners_and_editors(team: Team, who: str) -> None:
    response = team.client(who).get(team.url("/workflows/new/"))
    assert response.status_code == 200
    body = text_of(response)
    assert "New workflow" in body
    assert '"slug": "my-workflow"' in body
    assert 'name="file"' in body  # import a file


def test_new_workflow_page_is_403_for_viewers(team: Team) -> None:
    client = team.client("viewer")
    assert client.get(team.url("/workflows/new/")).status_code == 403
    response = client.post(
        team.url("/workflows/new/"), {"definition": json.dumps(definition("viewer-flow"))}
    )
    assert response.status_code == 403
    assert not Workflow.objects.filter(slug="viewer-flow").exists()


def test_new_workflow_in_someone_elses_project_is_404(team: Team) -> None:
    client = team.client("outsider")
    assert client.get(team.url("/workflows/new/")).status_code == 404
    response = client.post(
        team.url("/workflows/new/"), {"definition": json.dumps(definition("sneaky-flow"))}
    )
    assert response.status_code == 404
    assert not Workflow.objects.filter(slug="sneaky-flow").exists()


def test_new_workflow_without_a_project_goes_to_the_outsiders_own_project(team: Team) -> None:
    client = team.client("outsider")
    response = client.post("/workflows/new/", {"definition": json.dumps(definition("own-flow"))})
    assert response.status_code == 302
    assert Workflow.objects.get(slug="own-flow").project == personal_project(team.outsider)


def test_new_workflow_link_works_for_a_team_viewer(team: Team) -> None:
    response = team.client("viewer").get("/workflows/new/")
    assert response.status_code == 200
    # Without ?project= the editor opens on the viewer's own project, where they may edit,
    # never on the team project where they would get 403.
    assert response.context["project"] == personal_project(team.viewer)
    assert response.context["project"] != team.project
