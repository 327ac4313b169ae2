"""Replay: a test case with `replay_from_run` answers every outbound step (and every loop
holding one) from the recorded run and sends no request at all, against a real server
that counts what it receives."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from meshhook.models import Workflow
from testruns.models import RunStatus
from testruns.testcase_models import CaseRunSpec
from testruns.testcases import TestCaseError
from tests.factories import Team, allow_server, make_run, make_workflow
from tests.testcases.helpers import make_case, run_case

pytestmark = pytest.mark.django_db(transaction=True)


def definition(base: str) -> dict[str, Any]:
    """hook → call (POST /items) → each (loop over the body's tags: post /tags) → notify."""
    return {
        "schema_version": 1,
        "name": "Outbound",
        "slug": "outbound",
        "settings": {"default_retry": {"max_attempts": 1, "initial_delay_ms": 1}},
        "nodes": [
            {"id": "hook", "type": "webhook_trigger"},
            {"id": "call", "type": "http_call",
             "config": {"method": "POST", "url": f"{base}/items", "body": "{{body}}"}},
            {"id": "each", "type": "loop", "input": "trigger.body",
             "config": {"items": "tags"}},
            {"id": "tag", "type": "http_call", "parent": "each",
             "config": {"method": "POST", "url": f"{base}/tags", "body": {"tag": "{{item}}"}}},
            {"id": "notify", "type": "webhook",
             "config": {"url": f"{base}/hooks",
                        "body_template": {"id": "{{steps.call.output.data.id}}"}}},
        ],
        "edges": [
            {"source": "hook", "target": "call"},
            {"source": "call", "target": "each"},
            {"source": "each", "target": "notify"},
        ],
    }  # fmt: skip


@pytest.fixture
def server(httpserver: HTTPServer) -> HTTPServer:
    httpserver.expect_request("/items", method="POST").respond_with_json({"id": 7}, status=201)
    httpserver.expect_request("/tags", method="POST").respond_with_json({"ok": True})
    httpserver.expect_request("/hooks", method="POST").respond_with_json({"sent": True})
    return httpserver


@pytest.fixture
def workflow(team: Team, server: HTTPServer) -> Workflow:
    base = server.url_for("").rstrip("/")
    allow_server(team.project, base)
    return make_workflow(team.project, definition(base))


PAYLOAD = {"name": "Ada", "tags": ["a", "b"]}


def test_a_replayed_run_sends_no_request(
    workflow: Workflow, server: HTTPServer, drain: Callable[[], int]
) -> None:
    recorded = run_case(make_case(workflow, name="live", payload=PAYLOAD), drain)
    assert recorded.status == RunStatus.PASSED, recorded.error
    assert len(server.log) == 4  # items, two tags, hooks
    case = make_case(
        workflow, name="replayed", payload=PAYLOAD, replay_from_run=str(recorded.id),
        assertions=[
            {"target": "step.output", "node": "call", "path": "data.id", "op": "equals",
             "expected": 7},
            {"target": "step.output", "node": "each", "op": "length_equals", "expected": 2},
        ],
    )  # fmt: skip

    run = run_case(case, drain)

    assert len(server.log) == 4  # nothing new
    assert run.status == RunStatus.PASSED, run.error
    mocked = dict(run.steps.filter(iteration__isnull=True).values_list("node_id", "mocked"))
    assert mocked == {"hook": False, "call": True, "each": True, "tag": False, "notify": True}
    recorded_outputs = dict(recorded.steps.values_list("node_id", "output"))
    assert run.steps.get(node_id="call").output == recorded_outputs["call"]
    spec = CaseRunSpec.objects.get(run=run)
    assert spec.replay_from_run_id == recorded.id
    assert spec.replayed_nodes == ["call", "each", "notify"]
    replaying = run.events.get(type="log", data__replayed__isnull=False)
    assert replaying.message == (
        f"Replaying run {recorded.short_id}: 'call', 'each', 'notify' answered from its "
        "recording, no request sent."
    )


def test_a_step_the_recording_never_reached_is_still_not_called(
    workflow: Workflow, server: HTTPServer, drain: Callable[[], int]
) -> None:
    # Recorded with the loop and the webhook mocked: only `call` has a real answer.
    recorded = run_case(
        make_case(workflow, name="partial", payload=PAYLOAD, mocks={"each": [], "notify": {}}),
        drain,
    )
    calls = len(server.log)
    case = make_case(
        workflow, name="replayed", payload=PAYLOAD, replay_from_run=str(recorded.id),
        mocks={"notify": {"given": True}},
    )  # fmt: skip

    run = run_case(case, drain)

    assert len(server.log) == calls
    assert run.status == RunStatus.PASSED, run.error
    # The case's own mocks win over the recording's.
    assert run.steps.get(node_id="notify").output == {"given": True}
    assert CaseRunSpec.objects.get(run=run).replayed_nodes == ["call", "each"]


def test_replay_and_baseline_need_a_finished_run_of_the_same_workflow(
    team: Team, workflow: Workflow
) -> None:
    elsewhere = make_run(team.workflow, team.owner)
    unfinished = make_run(workflow, team.owner, payload=PAYLOAD)

    with pytest.raises(TestCaseError) as raised:
        make_case(workflow, replay_from_run="not-a-run", baseline_run=str(elsewhere.id))
    with pytest.raises(TestCaseError) as queued:
        make_case(workflow, replay_from_run=str(unfinished.id))

    assert [(p.path, p.message) for p in raised.value.problems] == [
        ("baseline_run", f"No test run {elsewhere.id} of workflow 'outbound'."),
        ("replay_from_run", "replay_from_run must be the id of a test run of this workflow."),
    ]
    assert [(p.path, p.message) for p in queued.value.problems] == [
        ("replay_from_run", f"Run {unfinished.short_id} is queued; use a finished run."),
    ]
