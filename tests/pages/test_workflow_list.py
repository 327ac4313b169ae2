"""The workflow list (/workflows/): members see their projects' workflows, outsiders never do."""

from __future__ import annotations

import html
import re

import pytest

from meshhook.models import Workflow
from testruns.models import RunStatus
from tests.factories import (
    MEMBERS,
    Team,
    definition,
    finished,
    make_run,
    make_workflow,
    personal_project,
)
from tests.pages.helpers import text_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("who", MEMBERS)
def test_workflow_list_shows_the_project_workflows_to_members(team: Team, who: str) -> None:
    response = team.client(who).get("/workflows/")
    assert response.status_code == 200
    body = response.content.decode()
    assert f'href="/workflows/lead-flow/?project={team.project.slug}"' in body
    assert "Lead flow" in body
    assert team.project.name in body  # members of two projects see a Project column


def test_workflow_list_hides_the_project_from_outsiders(team: Team) -> None:
    mine = make_workflow(
        personal_project(team.outsider), definition("my-own-flow", name="My own flow")
    )
    response = team.client("outsider").get("/workflows/")
    assert response.status_code == 200
    body = response.content.decode()
    assert f'href="{mine.get_absolute_url()}"' in body
    assert "lead-flow" not in body
    assert "Lead flow" not in body
    assert team.project.name not in body


def test_workflow_list_shows_the_last_run(team: Team) -> None:
    run = finished(make_run(team.workflow, team.owner), RunStatus.FAILED)
    response = team.client("viewer").get("/workflows/")
    body = response.content.decode()
    assert f'href="/test-runs/{run.id}/"' in body
    assert "st-failed" in body


def test_workflow_list_links_to_each_of_two_same_slug_workflows(team: Team, twin: Workflow) -> None:
    client = team.client("owner")
    body = client.get("/workflows/").content.decode()
    links = set(re.findall(r'<a class="cell-title" href="([^"]*)"', body))
    assert len(links) == 2
    shows_twin = {
        "Personal lead flow" in text_of(client.get(html.unescape(link))) for link in links
    }
    assert shows_twin == {False, True}  # each link opens a different one of the two
