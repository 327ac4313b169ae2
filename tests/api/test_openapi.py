"""The OpenAPI document: valid, complete (every route of meshhook/api/urls.py with exactly
its methods), and describing what the endpoints really answer."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, reverse
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from meshhook.api.openapi import document
from meshhook.urls import api_patterns
from tests.api.helpers import send
from tests.factories import Team, make_run

pytestmark = pytest.mark.django_db

DOCUMENT = document()
METHODS = ("get", "post", "put", "patch", "delete")
CONVERTER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
SAMPLE = {"uuid": str(uuid.UUID(int=0)), "str": "sample"}


def routed_paths() -> set[str]:
    """Every API route as an OpenAPI path, built by reversing it through the real resolver
    (so the `api/` mount in meshhook/urls.py is checked too)."""
    paths = set()
    for pattern in api_patterns:
        assert isinstance(pattern, URLPattern)
        if pattern.name == "not_found":
            continue
        params = {
            m["name"]: SAMPLE[m["converter"] or "str"]
            for m in CONVERTER.finditer(str(pattern.pattern))
        }
        path = reverse(f"api:{pattern.name}", kwargs=params)
        for name, value in params.items():
            path = path.replace(value, "{" + name + "}")
        paths.add(path)
    return paths


def test_document_is_valid_openapi() -> None:
    validate(DOCUMENT)
    assert DOCUMENT["openapi"].startswith("3.")


def test_document_lists_every_route_and_nothing_else() -> None:
    assert set(DOCUMENT["paths"]) == routed_paths()


def test_served_without_authentication(db: Any) -> None:
    response = Client().get("/api/openapi.json")
    assert response.status_code == 200
    assert response.json() == DOCUMENT


def test_every_operation_documents_its_errors() -> None:
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if path == "/api/openapi.json":
                continue
            assert {"401", "404", "405"} <= set(operation["responses"]), (method, path)
            if "requestBody" in operation:
                assert {"400", "413"} <= set(operation["responses"]), (method, path)


def test_documented_methods_are_exactly_the_allowed_ones(team: Team) -> None:
    run = make_run(team.workflow, team.owner)
    values = {
        "slug": "lead-flow",
        "name": "local",
        "run_id": str(run.id),
        "case_id": str(uuid.UUID(int=0)),
        "suite_id": str(uuid.UUID(int=0)),
    }
    client = team.bearer(team.owner)
    for path, item in DOCUMENT["paths"].items():
        url = re.sub(r"\{(\w+)\}", lambda m: values[m[1]], path)
        for method in METHODS:
            status = send(client, method, url).status_code
            if method in item:
                assert status != 405, (method, path)
            else:
                assert status == 405, (method, path)


def schema_validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": DOCUMENT["components"]}
    )


def test_responses_match_their_schemas(team: Team) -> None:
    run = make_run(team.workflow, team.owner, payload={"score": 5})
    client = team.bearer(team.owner)
    checks = [
        ("TestRunDetail", f"/api/test-runs/{run.id}"),
        ("TestRunPage", team.url("/api/test-runs")),
        ("EventPage", f"/api/test-runs/{run.id}/events"),
        ("Export", f"/api/test-runs/{run.id}/export"),
        ("WorkflowDetail", team.url("/api/workflows/lead-flow")),
        ("Environment", team.url("/api/environments/local")),
    ]
    for schema, url in checks:
        response = send(client, "GET", url)
        assert response.status_code == 200, url
        schema_validator(schema).validate(response.data)
    started = send(client, "POST", team.url("/api/test-runs"), {"workflow": "lead-flow"})
    schema_validator("TestRunStarted").validate(started.data)
    error = send(client, "POST", team.url("/api/test-runs"), {"workflow": "lead-flow", "x": 1})
    schema_validator("Error").validate(error.data)
