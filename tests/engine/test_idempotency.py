"""Every outbound request carries `Idempotency-Key: <run>:<node>[:<iteration>]`, so a step
that runs again after its worker was lost can be recognised by the receiver."""

from __future__ import annotations

from pytest_httpserver import HTTPServer

from meshhook.engine import (
    ExecutionContext,
    RunInput,
    RunState,
    StepRecord,
    execute_step,
    parse_definition,
)


def test_requests_carry_a_key_per_run_node_and_iteration(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/one").respond_with_json({})
    httpserver.expect_request("/each").respond_with_json({})
    httpserver.expect_request("/own").respond_with_json({})
    workflow = parse_definition({
        "schema_version": 1, "name": "Keys", "slug": "keys",
        "nodes": [
            {"id": "hook", "type": "webhook_trigger"},
            {"id": "one", "type": "http_call", "config": {"url": httpserver.url_for("/one")}},
            {"id": "own", "type": "http_call", "config": {
                "url": httpserver.url_for("/own"), "headers": {"idempotency-key": "mine"}}},
            {"id": "loop", "type": "loop", "config": {"items": "`[1, 2]`"}},
            {"id": "each", "type": "http_call", "parent": "loop",
             "config": {"url": httpserver.url_for("/each")}},
        ],
        "edges": [{"source": "hook", "target": "one"}, {"source": "one", "target": "own"},
                  {"source": "own", "target": "loop"}],
    })  # fmt: skip
    hook = StepRecord("succeeded", {"body": {}, "headers": {}, "query": {}})
    state = RunState(run=RunInput(payload={}, run_id="r-1"), steps={"hook": hook})
    for node_id in ("one", "own", "loop"):
        assert execute_step(workflow, node_id, state, ExecutionContext()).status == "succeeded"
    keys = [request.headers.get("Idempotency-Key") for request, _ in httpserver.log]
    assert keys == ["r-1:one", "mine", "r-1:each:0", "r-1:each:1"]
