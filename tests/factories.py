"""The one set of factories for the suite: users, projects with members of each role, the
team every page and API test works in, workflows (through save_definition) and runs
(through start_test_run), so tests build state the way the product does."""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from meshhook.engine import parse_definition
from meshhook.models import ApiToken, Environment, Membership, Project, Workflow
from meshhook.services.workflows import save_definition
from testruns.models import RunStatus, StepStatus, TestRun
from testruns.parameters import RunParameters, validate_parameters
from testruns.services import start_test_run

_counter = itertools.count(1)

MEMBERS = ("owner", "editor", "viewer")
EDITORS = ("owner", "editor")
HTMX = {"HX-Request": "true"}


# --- definitions ----------------------------------------------------------------------------


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


def http_chain_definition(base_url: str, slug: str = "chain") -> dict[str, Any]:
    """hook → shape (transform) → call (POST base/items) → check (branch) → ok | alert."""
    return {
        "schema_version": 1,
        "name": "Chain",
        "slug": slug,
        "settings": {"default_retry": {"max_attempts": 1, "initial_delay_ms": 1}},
        "nodes": [
            {"id": "hook", "type": "webhook_trigger", "label": "Receive"},
            {
                "id": "shape",
                "type": "transform",
                "label": "Shape",
                "config": {"expression": "body.{name: name, score: score}"},
            },
            {
                "id": "call",
                "type": "http_call",
                "label": "Call API",
                "config": {"method": "POST", "url": f"{base_url}/items"},
            },
            {
                "id": "check",
                "type": "branch",
                "label": "High score?",
                "input": "steps.shape.output",
                "config": {"condition": "score > `50`"},
            },
            {
                "id": "ok",
                "type": "transform",
                "label": "Accept",
                "config": {"template": {"accepted": "{{ name }}"}},
            },
            {
                "id": "alert",
                "type": "transform",
                "label": "Reject",
                "config": {"template": {"rejected": "{{ name }}"}},
            },
        ],
        "edges": [
            {"source": "hook", "target": "shape"},
            {"source": "shape", "target": "call"},
            {"source": "call", "target": "check"},
            {"source": "check", "target": "ok", "when": "true"},
            {"source": "check", "target": "alert", "when": "false"},
        ],
    }


# --- users, projects, environments, tokens --------------------------------------------------


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


def allow_server(project: Project, base_url: str) -> Environment:
    """Let the project's `local` environment call the (local) server at `base_url`."""
    environment = project.environments.get(name="local")
    host = urlsplit(base_url).netloc
    environment.allowed_hosts = [host]
    environment.allow_private_network = True
    environment.save()
    return environment


def make_secret_environments(project: Project) -> Environment:
    """A `staging` test environment with a variable and a secret, and a `prod` production
    environment with a secret of its own; returns `staging`."""
    environment = Environment.objects.create(
        project=project,
        name="staging",
        kind=Environment.Kind.TEST,
        variables={"CRM_URL": "https://crm.example.com/very-visible-variable-value"},
        allowed_hosts=["crm.example.com"],
    )
    environment.set_secrets({"CRM_TOKEN": "s3cr3t-value-never-shown-0451"})
    environment.save()
    production = Environment.objects.create(
        project=project, name="prod", kind=Environment.Kind.PRODUCTION
    )
    production.set_secrets({"PROD_KEY": "production-secret-value-0452"})
    production.save()
    return environment


# --- workflows and runs ---------------------------------------------------------------------


def make_workflow(
    project: Project, document: dict[str, Any] | None = None, user: User | None = None
) -> Workflow:
    return save_definition(project, document or definition(), user=user).workflow


def make_run(workflow: Workflow, user: User | None = None, **parameters: Any) -> TestRun:
    """A run started the way the API starts one: `parameters` as the JSON body gives them."""
    engine_workflow = parse_definition(workflow.current_version().definition)
    params = validate_parameters(workflow.project, engine_workflow, parameters)
    return start_test_run(workflow, params, user=user, source=TestRun.Source.API)


def start_run(workflow: Workflow, user: User, *, payload: Any = None, **options: Any) -> TestRun:
    """A run started from already valid parameters, as the console starts one."""
    params = RunParameters(
        payload={"name": "Ada", "score": 90} if payload is None else payload,
        headers=options.pop("headers", {}),
        environment=workflow.project.environments.get(name=options.pop("environment", "local")),
        **options,
    )
    return start_test_run(workflow, params, user=user)


def paused(run: TestRun, before: str = "map") -> TestRun:
    TestRun.objects.filter(pk=run.pk).update(status=RunStatus.PAUSED, paused_before=before)
    run.refresh_from_db()
    return run


def finished(run: TestRun, status: str = RunStatus.PASSED) -> TestRun:
    """A run as the worker leaves it: the trigger and the transform ran, the rest skipped."""
    now = timezone.now()
    TestRun.objects.filter(pk=run.pk).update(status=status, started_at=now, completed_at=now)
    for position, node_id in enumerate(["hook", "map"]):
        run.steps.filter(node_id=node_id).update(
            status=StepStatus.SUCCEEDED, position=position, output={"node": node_id}
        )
    run.steps.filter(status=StepStatus.PENDING).update(status=StepStatus.SKIPPED)
    run.refresh_from_db()
    return run


def run_form(**changes: Any) -> dict[str, Any]:
    """What the Test-run form posts, with `changes` applied."""
    data: dict[str, Any] = {
        "payload": json.dumps({"score": 90, "email": "a@example.com"}),
        "environment": "local",
        "mode": "auto",
        "header_name": ["X-Source"],
        "header_value": ["console-test"],
    }
    data.update(changes)
    return data


# --- the team -------------------------------------------------------------------------------


@dataclass
class Team:
    """A team project with one user per role, an outsider (a user of another project), a
    workflow, and clients for each kind of authentication."""

    project: Project
    owner: User
    editor: User
    viewer: User
    outsider: User
    workflow: Workflow

    def user(self, who: str) -> User:
        user: User = getattr(self, who)
        return user

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


def make_team() -> Team:
    project, owner = make_project_with_member(Membership.Role.OWNER)
    editor, viewer, outsider = make_user(), make_user(), make_user()
    add_member(project, editor, Membership.Role.EDITOR)
    add_member(project, viewer, Membership.Role.VIEWER)
    return Team(project, owner, editor, viewer, outsider, make_workflow(project, user=owner))
