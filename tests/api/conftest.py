"""Fixtures shared by the API tests: a project with one user per role, clients for each
kind of authentication, and an empty `testruns` queue in the real Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import django_rq
import pytest
from django.contrib.auth.models import User
from django.test import Client
from rq import Queue

from meshhook.models import Membership, Project, Workflow
from tests.api.factories import (
    add_member,
    make_project_with_member,
    make_token,
    make_user,
    make_workflow,
)


@pytest.fixture(autouse=True)
def testruns_queue() -> Iterator[Queue]:
    """The real `testruns` queue, empty at the start and the end of every test."""
    queue = django_rq.get_queue("testruns")
    queue.empty()
    yield queue
    queue.empty()


@dataclass
class Team:
    project: Project
    owner: User
    editor: User
    viewer: User
    outsider: User
    workflow: Workflow

    def session(self, user: User, *, enforce_csrf: bool = False) -> Client:
        client = Client(enforce_csrf_checks=enforce_csrf)
        client.force_login(user)
        return client

    def bearer(self, user: User) -> Client:
        return Client(headers={"Authorization": f"Bearer {make_token(user)}"})

    def url(self, path: str) -> str:
        """`path` with this team's project selected (members also have a personal project)."""
        separator = "&" if "?" in path else "?"
        return f"{path}{separator}project={self.project.slug}"


@pytest.fixture
def team(db: Any) -> Team:
    project, owner = make_project_with_member(Membership.Role.OWNER)
    editor, viewer, outsider = make_user(), make_user(), make_user()
    add_member(project, editor, Membership.Role.EDITOR)
    add_member(project, viewer, Membership.Role.VIEWER)
    return Team(project, owner, editor, viewer, outsider, make_workflow(project, user=owner))


def send(client: Client, method: str, url: str, body: Any = None, **extra: Any) -> Any:
    """A JSON request; returns the response with `.data` set to its decoded JSON."""
    kwargs: dict[str, Any] = {}
    if body is not None:
        kwargs = {"data": json.dumps(body), "content_type": "application/json"}
    elif method.upper() in ("POST", "PUT", "PATCH"):
        # What `curl -X POST` sends; the test client would otherwise send an empty multipart form.
        kwargs = {"data": b"", "content_type": "application/json"}
    response = getattr(client, method.lower())(url, **kwargs, **extra)
    response.data = json.loads(response.content) if response.content else None
    return response


def assert_error(response: Any, status: int, *paths: str) -> None:
    """The one error shape: status, `error` text, and `errors[].path` equal to `paths`."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    data = json.loads(response.content)
    assert set(data) == {"error", "errors"}
    assert isinstance(data["error"], str)
    assert data["error"]
    assert data["errors"], data
    assert all(set(item) == {"path", "message"} for item in data["errors"])
    if paths:
        assert sorted(item["path"] for item in data["errors"]) == sorted(paths), data
