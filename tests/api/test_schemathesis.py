"""Schemathesis against the OpenAPI document the server serves (`/api/openapi.json`): every
operation, called in-process through the WSGI application with a member's bearer token and
inputs generated from the document (valid ones and invalid ones), never answers a server
error: bad input is a 4xx naming the field.

Nothing is excluded: runs and suites it starts are enqueued when the test's transaction
commits, which it never does, so no request leaves the process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from meshhook.api.openapi import document
from meshhook.wsgi import application
from testruns.suites import start_suite
from tests.factories import (
    Team,
    definition,
    make_token,
    make_workflow,
    paused,
    personal_project,
    start_run,
)
from tests.testcases.helpers import make_case

# Per operation and generation mode: 29 operations, 57 calls of this many examples take about
# a minute on two cores. Examples of one call share its objects (a deleted case stays gone).
MAX_EXAMPLES = 25
CALLS = [
    (path, method, mode)
    for path, item in document()["paths"].items()
    for method, spec in item.items()
    if method in ("get", "post", "put", "patch", "delete")
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    # Without parameters or a body there is nothing to make invalid.
    if mode == GenerationMode.POSITIVE or spec.get("parameters") or spec.get("requestBody")
]


def real_objects(team: Team) -> dict[str, str]:
    """A workflow, a run paused in step mode, a test case and a suite in the owner's first
    project (the one the API defaults to), by the names of the document's parameters."""
    project = personal_project(team.owner)
    workflow = make_workflow(project, definition(), team.owner)
    run = paused(start_run(workflow, team.owner, mode="step"))
    case = make_case(workflow, team.owner)
    suite = start_suite(project, user=team.owner, source="api")
    return {
        "project": project.slug,
        "slug": workflow.slug,
        "name": "local",
        "run_id": str(run.id),
        "case_id": str(case.id),
        "suite_id": str(suite.id),
    }


@pytest.fixture
def api_schema(db: None) -> Iterator[Any]:
    # What Django's test client does around its requests: the handler would otherwise close
    # the test's database connection at the end of each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/openapi.json", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.parametrize(
    ("path", "method", "mode"),
    [pytest.param(*call, id=f"{call[2].value} {call[1].upper()} {call[0]}") for call in CALLS],
)
def test_no_operation_answers_a_server_error(
    api_schema: Any, team: Team, path: str, method: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]
    headers = {"Authorization": f"Bearer {make_token(team.owner)}"}
    real = real_objects(team)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,  # the same examples on every run: a failure is reproducible
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def call(case: Any) -> None:
        if mode == GenerationMode.POSITIVE:
            # Valid input that names real objects reaches past the lookups (random ids and
            # slugs only ever find nothing); invalid input keeps what was generated.
            if case.path_parameters:
                case.path_parameters = {name: real[name] for name in case.path_parameters}
            if case.query and "project" in case.query:
                case.query = {**case.query, "project": real["project"]}
        case.call_and_validate(headers=headers, checks=[not_a_server_error])

    call()
