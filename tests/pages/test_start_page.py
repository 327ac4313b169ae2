"""The start page (/test-runs/new/): the workflows of the user's projects only."""

from __future__ import annotations

import pytest

from tests.factories import MEMBERS, Team

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("who", MEMBERS)
def test_start_page_lists_the_members_workflows(team: Team, who: str) -> None:
    response = team.client(who).get("/test-runs/new/")
    assert response.status_code == 200
    link = f'href="/workflows/lead-flow/test-run/?project={team.project.slug}"'
    assert link in response.content.decode()


def test_start_page_hides_other_projects(team: Team) -> None:
    response = team.client("outsider").get("/test-runs/new/")
    assert response.status_code == 200
    assert "lead-flow" not in response.content.decode()
    assert "No workflows yet" in response.content.decode()
