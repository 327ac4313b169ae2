"""Shared by the console page tests (tests/test_pages.py, tests/test_editor.py): a team
project with one user per role plus an outsider, logged-in clients, and a reader for the
`<li><code>path</code><span>message</span></li>` problem lists the pages render."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from meshhook.models import Membership, Project, Workflow
from tests.api.factories import add_member, make_project_with_member, make_user, make_workflow

ROLES = ("owner", "editor", "viewer")
HTMX = {"HX-Request": "true"}

_PROBLEM = re.compile(r"<li><code>(.*?)</code><span>(.*?)</span></li>", re.S)


@dataclass
class Team:
    project: Project
    owner: User
    editor: User
    viewer: User
    outsider: User
    workflow: Workflow

    def user(self, who: str) -> User:
        return getattr(self, who)

    def client(self, who: str, *, htmx: bool = False) -> Client:
        """A logged-in client for `who` (a role or "outsider"); "anonymous" is not logged in."""
        client = Client(headers=HTMX if htmx else None)
        if who != "anonymous":
            client.force_login(self.user(who))
        return client

    def url(self, path: str) -> str:
        """`path` with this team's project selected (every member also has a personal one)."""
        separator = "&" if "?" in path else "?"
        return f"{path}{separator}project={self.project.slug}"


@pytest.fixture(name="team")
def team_fixture(db: Any) -> Team:
    """Import `team_fixture` into a test module to use the `team` fixture."""
    project, owner = make_project_with_member(Membership.Role.OWNER)
    editor, viewer, outsider = make_user(), make_user(), make_user()
    add_member(project, editor, Membership.Role.EDITOR)
    add_member(project, viewer, Membership.Role.VIEWER)
    return Team(project, owner, editor, viewer, outsider, make_workflow(project, user=owner))


def problems_in(response: Any) -> list[tuple[str, str]]:
    """(path, message) of every problem listed on the page, HTML entities decoded."""
    text = response.content.decode()
    return [(html.unescape(path), html.unescape(msg)) for path, msg in _PROBLEM.findall(text)]


def text_of(response: Any) -> str:
    return html.unescape(response.content.decode())


def assert_login_redirect(response: Any, path: str) -> None:
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
    assert path.split("?")[0] in html.unescape(response["Location"]).replace("%2F", "/")
