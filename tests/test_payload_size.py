"""A payload's size is counted as compact JSON by the form/API check and by the trigger
alike, so spacing never decides whether a payload is under the 1 MB limit."""

from __future__ import annotations

import json

import pytest

from meshhook.engine import ExecutionContext, RunInput, RunState, execute_step, parse_definition
from meshhook.engine.limits import payload_bytes
from testruns.parameters import PAYLOAD_LIMIT, ParameterError, validate_parameters
from tests.factories import definition, make_user, personal_project

# Many short values: about 0.9 MB compact, over 1 MB with json.dumps' default spacing.
PAYLOAD = {"rows": [{"a": 1, "b": 2, "c": "x"} for _ in range(36_000)]}


def test_compact_size_is_under_the_limit_where_spaced_json_is_over() -> None:
    assert payload_bytes(PAYLOAD) < PAYLOAD_LIMIT < len(json.dumps(PAYLOAD))
    assert payload_bytes({"name": "Ada Lovelace", "ünïcode": "é"}) == len(
        '{"name":"Ada Lovelace","ünïcode":"é"}'.encode()
    )


@pytest.mark.django_db
def test_the_api_check_and_the_trigger_both_accept_it() -> None:
    project = personal_project(make_user())
    workflow = parse_definition(definition())
    params = validate_parameters(project, workflow, {"payload": PAYLOAD})
    state = RunState(run=RunInput(payload=params.payload), steps={})
    outcome = execute_step(workflow, "hook", state, ExecutionContext())
    assert outcome.status == "succeeded", outcome.error


@pytest.mark.django_db
def test_over_the_limit_compact_is_refused_naming_the_payload() -> None:
    project = personal_project(make_user())
    too_big = {"rows": ["x" * 1_000] * 1_001}
    with pytest.raises(ParameterError) as raised:
        validate_parameters(project, parse_definition(definition()), {"payload": too_big})
    assert raised.value.problems[0].path == "payload"
