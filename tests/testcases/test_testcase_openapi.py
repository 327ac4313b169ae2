"""The test-case and suite part of the OpenAPI document: every route with exactly its
methods, and answers that match their schemas."""

from __future__ import annotations

import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from meshhook.api.openapi import document
from tests.api.helpers import send
from tests.factories import Team
from tests.testcases.helpers import make_case

pytestmark = pytest.mark.django_db

DOCUMENT = document()
METHODS = ("get", "post", "put", "patch", "delete")
OURS = ("/api/test-cases", "/api/suites")


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": DOCUMENT["components"]}
    )


def test_the_new_routes_are_documented_with_exactly_their_methods(team: Team) -> None:
    case = make_case(team.workflow, team.owner)
    values = {"case_id": str(case.id), "suite_id": "00000000-0000-0000-0000-000000000000"}
    client = team.bearer(team.owner)
    ours = [path for path in DOCUMENT["paths"] if path.startswith(OURS)]
    assert sorted(ours) == [
        "/api/suites", "/api/suites/{suite_id}", "/api/suites/{suite_id}/junit",
        "/api/test-cases", "/api/test-cases/{case_id}",
    ]  # fmt: skip
    for path in ours:
        url = re.sub(r"\{(\w+)\}", lambda m: values[m[1]], path)
        for method in METHODS:
            if method == "delete":
                continue  # checked last: it removes the case
            status = send(client, method, url).status_code
            assert (status != 405) == (method in DOCUMENT["paths"][path]), (method, path)
    assert send(client, "delete", f"/api/test-cases/{case.id}").status_code == 204


def test_answers_match_their_schemas(team: Team, django_capture_on_commit_callbacks: Any) -> None:
    owner = team.bearer(team.owner)
    body = {"workflow": "lead-flow", "name": "n", "assertions": [
        {"target": "run.status", "op": "equals", "expected": "passed"}]}  # fmt: skip
    validator("TestCaseInput").validate(body)
    created = send(owner, "POST", team.url("/api/test-cases"), body)
    validator("TestCase").validate(created.data)
    validator("TestCasePage").validate(send(owner, "GET", "/api/test-cases").data)
    with django_capture_on_commit_callbacks(execute=True):
        run = send(owner, "POST", "/api/test-runs", {"test_case": created.data["id"]})
        suite = send(owner, "POST", team.url("/api/suites"), {})
    validator("TestRunStart").validate({"test_case": created.data["id"]})
    validator("TestRunStarted").validate(run.data)
    validator("TestRunDetail").validate(send(owner, "GET", f"/api/test-runs/{run.data['id']}").data)
    validator("SuiteStarted").validate(suite.data)
    validator("Suite").validate(send(owner, "GET", f"/api/suites/{suite.data['id']}").data)
    error = send(owner, "POST", team.url("/api/test-cases"), {"name": ""})
    validator("Error").validate(error.data)
