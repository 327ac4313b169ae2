"""Building blocks for test-run tests: a workflow that calls a real local HTTP server."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.models import User

from meshhook.models import Environment, Project, Workflow
from meshhook.services.workflows import save_definition
from testruns.models import TestRun
from testruns.parameters import RunParameters
from testruns.services import start_test_run


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


def project_of(user: User) -> Project:
    return Project.objects.get(personal_for=user)


def allow_server(project: Project, base_url: str) -> Environment:
    environment = project.environments.get(name="local")
    host = urlsplit(base_url).netloc
    environment.allowed_hosts = [host]
    environment.allow_private_network = True
    environment.save()
    return environment


def make_workflow(project: Project, definition: dict[str, Any]) -> Workflow:
    return save_definition(project, definition).workflow


def start(workflow: Workflow, user: User, *, payload: Any = None, **options: Any) -> TestRun:
    params = RunParameters(
        payload={"name": "Ada", "score": 90} if payload is None else payload,
        headers=options.pop("headers", {}),
        environment=workflow.project.environments.get(name=options.pop("environment", "local")),
        **options,
    )
    return start_test_run(workflow, params, user=user)
