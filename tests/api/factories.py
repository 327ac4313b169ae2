"""Small factories for API tests: users, projects with a member of a given role, workflows
(through save_definition) and runs (through start_test_run), so tests build state the way
the product does."""

from __future__ import annotations

import copy
import itertools
from typing import Any

from django.contrib.auth.models import User

from meshhook.engine import parse_definition
from meshhook.models import ApiToken, Environment, Membership, Project, Workflow
from meshhook.services.workflows import save_definition
from testruns.models import TestRun
from testruns.parameters import validate_parameters
from testruns.services import start_test_run

_counter = itertools.count(1)


def definition(slug: str = "lead-flow", **changes: Any) -> dict[str, Any]:
    """A small valid definition: trigger → transform → branch → (notify | done)."""
    document: dict[str, Any] = {
        "schema_version": 1,
        "name": "Lead flow",
        "slug": slug,
        "nodes": [
            {"id": "hook", "type": "webhook_trigger"},
            {"id": "map", "type": "transform", "config": {"expression": "body"}},
            {"id": "hot", "type": "branch", "config": {"condition": "score > `80`"}},
            {"id": "notify", "type": "transform", "config": {"template": {"hot": True}}},
            {"id": "done", "type": "terminate", "config": {"status": "success"}},
        ],
        "edges": [
            {"source": "hook", "target": "map"},
            {"source": "map", "target": "hot"},
            {"source": "hot", "target": "notify", "when": "true"},
            {"source": "hot", "target": "done", "when": "false"},
            {"source": "notify", "target": "done"},
        ],
    }
    document.update(copy.deepcopy(changes))
    return document


def make_user(username: str | None = None, password: str | None = None) -> User:
    """A user; the post_save signal gives them a personal project with a `local` environment.

    No password by default: tests log in with force_login or tokens, and hashing is slow.
    """
    return User.objects.create_user(username or f"user{next(_counter)}", password=password)


def personal_project(user: User) -> Project:
    return Project.objects.get(personal_for=user)


def make_project_with_member(role: str = Membership.Role.OWNER) -> tuple[Project, User]:
    """A team project with a `local` test environment and one member of `role`."""
    number = next(_counter)
    project = Project.objects.create(name=f"Team {number}", slug=f"team-{number}")
    Environment.objects.create(project=project, name="local", allow_private_network=True)
    user = make_user()
    add_member(project, user, role)
    return project, user


def add_member(project: Project, user: User, role: str) -> Membership:
    return Membership.objects.create(project=project, user=user, role=role)


def make_token(user: User, name: str = "tests") -> str:
    return ApiToken.issue(user, name)[1]


def make_workflow(
    project: Project, document: dict[str, Any] | None = None, user: User | None = None
) -> Workflow:
    return save_definition(project, document or definition(), user=user).workflow


def make_run(workflow: Workflow, user: User | None = None, **parameters: Any) -> TestRun:
    engine_workflow = parse_definition(workflow.current_version().definition)
    params = validate_parameters(workflow.project, engine_workflow, parameters)
    return start_test_run(workflow, params, user=user, source=TestRun.Source.API)
