"""The `team` fixture shared by the API and console-page tests: a team project with one
user per role (owner, editor, viewer), an outsider, a workflow, and clients for each kind
of authentication."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from meshhook.models import Membership, Project, Workflow
from tests.api.factories import (
    add_member,
    make_project_with_member,
    make_token,
    make_user,
    make_workflow,
)

ROLES = ("owner", "editor", "viewer")
HTMX = {"HX-Request": "true"}


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

    def session(self, user: User, *, enforce_csrf: bool = False) -> Client:
        client = Client(enforce_csrf_checks=enforce_csrf)
        client.force_login(user)
        return client

    def bearer(self, user: User) -> Client:
        return Client(headers={"Authorization": f"Bearer {make_token(user)}"})

    def url(self, path: str) -> str:
        """`path` with this team's project selected (every member also has a personal one)."""
        separator = "&" if "?" in path else "?"
        return f"{path}{separator}project={self.project.slug}"


@pytest.fixture(name="team")
def team_fixture(db: Any) -> Team:
    """Import `team_fixture` into a test module or conftest to use the `team` fixture."""
    project, owner = make_project_with_member(Membership.Role.OWNER)
    editor, viewer, outsider = make_user(), make_user(), make_user()
    add_member(project, editor, Membership.Role.EDITOR)
    add_member(project, viewer, Membership.Role.VIEWER)
    return Team(project, owner, editor, viewer, outsider, make_workflow(project, user=owner))
