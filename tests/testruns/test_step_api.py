"""Issue acceptance: step mode over the JSON API, with a real queue and burst workers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import django_rq
import pytest
from django.test import Client
from pytest_httpserver import HTTPServer
from rq.worker import SimpleWorker

from meshhook.models import ApiToken
from tests.factories import (
    allow_server,
    http_chain_definition,
    make_user,
    make_workflow,
    personal_project,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def setup(httpserver: HTTPServer) -> tuple[Client, HTTPServer]:
    user = make_user("stepper")
    httpserver.expect_request("/items").respond_with_json({"id": 1}, status=201)
    base = httpserver.url_for("").rstrip("/")
    allow_server(personal_project(user), base)
    make_workflow(personal_project(user), http_chain_definition(base))
    token = ApiToken.issue(user, "ci")[1]
    return Client(headers={"Authorization": f"Bearer {token}"}), httpserver


def post(client: Client, url: str, body: Any = None) -> Any:
    response = client.post(url, json.dumps(body or {}), content_type="application/json")
    assert response.status_code in (200, 201), response.content
    return response.json()


def test_n_step_workflow_needs_exactly_n_advances(
    setup: tuple[Client, HTTPServer], drain: Callable[[], int]
) -> None:
    client, server = setup
    run_id = post(client, "/api/test-runs", {
        "workflow": "chain", "environment": "local", "mode": "step",
        "payload": {"name": "Ada", "score": 90},
    })["id"]  # fmt: skip
    drain()
    detail = client.get(f"/api/test-runs/{run_id}").json()
    assert detail["status"] == "paused"
    # The chain takes one branch: 5 of its 6 nodes run; `alert` is skipped as soon as
    # `check` (the 4th step) has chosen `ok`.
    runnable = 5
    pending_after = {1: 5, 2: 4, 3: 3, 4: 1, 5: 0}
    advances = 0
    while detail["status"] == "paused":
        post(client, f"/api/test-runs/{run_id}/advance")
        drain()
        advances += 1
        detail = client.get(f"/api/test-runs/{run_id}").json()
        ran = [s for s in detail["steps"] if s["status"] not in ("pending", "skipped")]
        pending = [s["node_id"] for s in detail["steps"] if s["status"] == "pending"]
        assert len(ran) == advances
        assert len(pending) == pending_after[advances], pending
        assert len(server.log) == (1 if advances >= 3 else 0)  # `call` is the 3rd step
    assert advances == runnable
    assert detail["status"] == "passed"
    assert detail["summary"] == {"total": 6, "succeeded": 5, "failed": 0, "skipped": 1}


def test_nothing_runs_while_paused_even_with_several_workers(
    setup: tuple[Client, HTTPServer], drain: Callable[[], int]
) -> None:
    client, server = setup
    run_id = post(client, "/api/test-runs", {
        "workflow": "chain", "environment": "local", "mode": "step",
        "breakpoints": ["call"], "payload": {"name": "Ada", "score": 90},
    })["id"]  # fmt: skip
    drain()
    post(client, f"/api/test-runs/{run_id}/continue")
    drain()
    assert client.get(f"/api/test-runs/{run_id}").json()["status"] == "paused"
    # Stray duplicate jobs for the paused run, taken by two different workers.
    queue = django_rq.get_queue("testruns")
    for _ in range(4):
        queue.enqueue("testruns.jobs.drive_run", run_id)
    for _ in range(2):
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
    detail = client.get(f"/api/test-runs/{run_id}").json()
    assert detail["status"] == "paused"
    assert {s["node_id"]: s["status"] for s in detail["steps"]}["call"] == "pending"
    assert len(server.log) == 0
