"""Races and edge cases of the worker: cancel mid-step, duplicate drivers, values that are
masked when stored, paused time, queueing failures, skipped loop bodies."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import django_rq
import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from meshhook.engine import MASK
from testruns import jobs
from testruns.models import RunStatus, StepRun, TestRun
from testruns.parameters import ParameterError
from testruns.services import QueueUnavailable, cancel_run, rerun, resume_run
from tests.factories import (
    allow_server,
    http_chain_definition,
    make_user,
    make_workflow,
    personal_project,
    start_run,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def user() -> User:
    return make_user("integrity")


def base(server: HTTPServer) -> str:
    return server.url_for("").rstrip("/")


def events_after_finish(run: TestRun) -> list[str]:
    types = list(run.events.order_by("seq").values_list("type", flat=True))
    return types[types.index("run_finished") + 1 :]


def test_cancel_during_an_http_step_stops_the_run_and_writes_nothing_after(
    user: User, httpserver: HTTPServer, drain: Callable[[], int]
) -> None:
    project = personal_project(user)
    allow_server(project, base(httpserver))
    workflow = make_workflow(project, http_chain_definition(base(httpserver)))
    run = start_run(workflow, user)

    def cancel_while_answering(request: Request) -> Response:
        try:
            cancel_run(TestRun.objects.get(pk=run.pk))
        finally:
            connection.close()  # this server thread's own connection
        return Response('{"id": 1}', status=201, content_type="application/json")

    httpserver.expect_request("/items").respond_with_handler(cancel_while_answering)
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    call = run.steps.get(node_id="call")
    assert call.status == "failed"
    assert "Cancelled" in call.error
    assert events_after_finish(run) == []
    assert set(run.steps.exclude(node_id__in=["hook", "shape", "call"]).values_list(
        "status", flat=True)) == {"skipped"}  # fmt: skip


def test_a_second_driver_for_the_same_run_does_nothing(
    user: User, httpserver: HTTPServer, run_queue: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    httpserver.expect_request("/items").respond_with_json({"id": 1})
    project = personal_project(user)
    allow_server(project, base(httpserver))
    run = start_run(make_workflow(project, http_chain_definition(base(httpserver))), user)
    monkeypatch.setattr(jobs, "DRIVE_LOCK_WAIT_SECONDS", 0.1)
    held = django_rq.get_connection("testruns").lock(
        f"meshhook:testrun:{run.id}:driver", timeout=30
    )
    assert held.acquire(blocking=False)
    try:
        jobs.drive_run(str(run.id))  # another driver holds the run
    finally:
        held.release()
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED
    assert len(httpserver.log) == 0
    jobs.drive_run(str(run.id))
    run.refresh_from_db()
    assert run.status == RunStatus.PASSED
    assert len(httpserver.log) == 1


def test_a_secret_returned_by_a_step_reaches_the_next_step_but_is_stored_masked(
    user: User, httpserver: HTTPServer, drain: Callable[[], int]
) -> None:
    httpserver.expect_request("/items").respond_with_json({"ok": True})
    project = personal_project(user)
    environment = allow_server(project, base(httpserver))
    environment.set_secrets({"API_TOKEN": "s3cr3t-token-value"})
    environment.save()
    definition = {
        "schema_version": 1, "name": "Token", "slug": "token",
        "nodes": [
            {"id": "hook", "type": "webhook_trigger"},
            {"id": "login", "type": "transform",
             "config": {"template": {"token": "{{ secrets.API_TOKEN }}"}}},
            {"id": "call", "type": "http_call",
             "config": {"method": "POST", "url": f"{base(httpserver)}/items",
                        "headers": {"X-Token": "{{ steps.login.output.token }}"}, "body": {}}},
        ],
        "edges": [{"source": "hook", "target": "login"}, {"source": "login", "target": "call"}],
    }  # fmt: skip
    run = start_run(make_workflow(project, definition), user)
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.PASSED, run.error
    assert httpserver.log[0][0].headers["X-Token"] == "s3cr3t-token-value"
    assert run.steps.get(node_id="login").output == {"token": MASK}
    assert "s3cr3t-token-value" not in str(list(run.events.values_list("message", "data")))


def test_request_credentials_are_masked_in_the_trigger_output_and_parameters(
    user: User, httpserver: HTTPServer, drain: Callable[[], int]
) -> None:
    httpserver.expect_request("/items").respond_with_json({"ok": True})
    project = personal_project(user)
    allow_server(project, base(httpserver))
    workflow = make_workflow(project, http_chain_definition(base(httpserver)))
    run = start_run(workflow, user, headers={"Authorization": "Bearer live-xyz", "X-Plain": "1"})
    drain()
    run.refresh_from_db()
    trigger = run.steps.get(node_id="hook").output
    assert trigger is not None
    assert trigger["headers"]["authorization"] == MASK
    assert trigger["headers"]["x-plain"] == "1"
    assert run.shown_parameters["headers"]["Authorization"] == MASK
    assert run.headers["Authorization"] != "Bearer live-xyz"  # stored encrypted
    assert run.headers_for_engine()["Authorization"] == "Bearer live-xyz"  # kept for re-runs


def test_time_spent_paused_does_not_count_against_the_run_timeout(
    user: User, drain: Callable[[], int]
) -> None:
    definition = {
        "schema_version": 1, "name": "Quick", "slug": "quick",
        "settings": {"run_timeout_ms": 2000},
        "nodes": [{"id": "hook", "type": "webhook_trigger"},
                  {"id": "shape", "type": "transform", "config": {"expression": "body"}}],
        "edges": [{"source": "hook", "target": "shape"}],
    }  # fmt: skip
    run = start_run(make_workflow(personal_project(user), definition), user, mode="step")
    drain()
    # A debugging session: started, and paused, ten minutes ago.
    long_ago = timezone.now() - timedelta(minutes=10)
    TestRun.objects.filter(pk=run.pk).update(started_at=long_ago, heartbeat_at=long_ago)
    for _ in range(2):
        resume_run(run, steps=1)
        drain()
    run.refresh_from_db()
    assert run.status == RunStatus.PASSED, run.error
    assert run.paused_ms >= 10 * 60 * 1000


def test_a_run_that_cannot_be_queued_ends_as_error_and_says_so(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_queue(name: str) -> Any:
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(django_rq, "get_queue", broken_queue)
    workflow = make_workflow(personal_project(user), http_chain_definition("http://x"))
    with pytest.raises(QueueUnavailable, match="could not be queued: Redis is down") as refused:
        start_run(workflow, user)
    assert refused.value.status == 503
    run = TestRun.objects.get()  # kept as the record
    assert run.status == RunStatus.ERROR
    assert "could not be queued" in run.error


def test_rerun_from_a_step_refuses_a_new_payload(user: User, drain: Callable[[], int]) -> None:
    run = start_run(make_workflow(personal_project(user), http_chain_definition("http://x")), user)
    with pytest.raises(ParameterError) as refused:
        rerun(run, user=user, source="api", from_step="shape", overrides={"payload": {"n": 2}})
    assert refused.value.problems[0].path == "from_step"


def test_a_skipped_loop_skips_its_body(user: User, drain: Callable[[], int]) -> None:
    definition = {
        "schema_version": 1, "name": "Loop or not", "slug": "loop-or-not",
        "nodes": [
            {"id": "hook", "type": "webhook_trigger"},
            {"id": "gate", "type": "branch", "config": {"condition": "body.go"}},
            {"id": "each", "type": "loop", "config": {"items": "body.items"}},
            {"id": "inner", "type": "transform", "parent": "each",
             "config": {"expression": "item"}},
            {"id": "done", "type": "transform", "config": {"expression": "`1`"}},
        ],
        "edges": [{"source": "hook", "target": "gate"},
                  {"source": "gate", "target": "each", "when": "true"},
                  {"source": "gate", "target": "done", "when": "false"}],
    }  # fmt: skip
    run = start_run(make_workflow(personal_project(user), definition), user, payload={"go": False})
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.PASSED
    statuses = dict(StepRun.objects.filter(run=run).values_list("node_id", "status"))
    assert statuses == {"hook": "succeeded", "gate": "succeeded", "each": "skipped",
                        "inner": "skipped", "done": "succeeded"}  # fmt: skip
    assert run.finished_steps == run.total_steps


def test_run_to_here_stops_once_and_leaves_no_breakpoint(
    user: User, drain: Callable[[], int]
) -> None:
    run = start_run(make_workflow(personal_project(user), http_chain_definition("http://x")), user,
                mode="step", mocks={"call": {"status": 201}})  # fmt: skip
    drain()
    resume_run(run, steps=None, until="check")
    drain()
    run.refresh_from_db()
    assert (run.status, run.paused_before, run.run_until) == (RunStatus.PAUSED, "check", "")
    assert "check" not in run.breakpoints
    assert run.events.filter(type="run_paused", message__contains="run to here").exists()
    resume_run(run, steps=None)
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.PASSED


def test_sweep_spares_a_run_waiting_for_a_busy_worker_and_requeues_a_lost_queued_one(
    user: User, run_queue: Any
) -> None:
    from testruns.sweep import sweep_stale_runs

    workflow = make_workflow(personal_project(user), http_chain_definition("http://x"))
    long_ago = timezone.now() - timedelta(minutes=10)
    waiting = start_run(workflow, user)  # its job is still in the queue
    TestRun.objects.filter(pk=waiting.pk).update(status=RunStatus.RUNNING, heartbeat_at=long_ago)
    lost_job = start_run(workflow, user)
    run_queue.remove(next(j for j in run_queue.get_job_ids() if str(lost_job.id) in j))
    TestRun.objects.filter(pk=lost_job.pk).update(created_at=long_ago)
    assert sweep_stale_runs() == {"resumed": 1, "lost": 0, "expired": 0}
    waiting.refresh_from_db()
    lost_job.refresh_from_db()
    assert (waiting.status, waiting.resumes) == (RunStatus.RUNNING, 0)
    assert (lost_job.status, lost_job.resumes) == (RunStatus.QUEUED, 1)
    assert [j for j in run_queue.get_job_ids() if str(lost_job.id) in j]


@pytest.mark.parametrize(
    "address", ["100.100.100.200", "169.254.169.254", "192.0.0.192", "::ffff:127.0.0.1", "10.1.2.3"]
)
def test_policy_refuses_non_global_addresses(address: str) -> None:
    from meshhook.engine import PolicyViolation
    from testruns.outbound import TestRunPolicy

    policy = TestRunPolicy(
        run_id="r", environment="ci", allowed_hosts=["*"], allow_private_network=False
    )
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(PolicyViolation, match="private address"):
        policy.check(f"http://{host}/")


def test_the_api_answers_503_when_the_queue_is_down_and_keeps_the_record(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.test import Client

    make_workflow(personal_project(user), http_chain_definition("http://x"))

    def broken_queue(name: str) -> Any:
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(django_rq, "get_queue", broken_queue)
    client = Client()
    client.force_login(user)
    response = client.post(
        "/api/test-runs", {"workflow": "chain", "payload": {}}, content_type="application/json"
    )
    assert response.status_code == 503
    assert "could not be queued: Redis is down" in response.json()["error"]
    assert TestRun.objects.get().status == RunStatus.ERROR


def test_a_heartbeat_that_hits_a_database_error_keeps_beating(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from django.db import OperationalError

    from testruns import lifecycle
    from testruns.runstore import heartbeat

    run = start_run(make_workflow(personal_project(user), http_chain_definition("http://x")), user)
    beats: list[str] = []
    three_beats = threading.Event()
    real_touch = lifecycle.touch

    def flaky_touch(*args: Any, **kwargs: Any) -> bool:
        beats.append("beat")
        if len(beats) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        if len(beats) >= 3:
            three_beats.set()
        return real_touch(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "touch", flaky_touch)
    with heartbeat(run.id, lease=0, interval=0.01):
        assert three_beats.wait(timeout=10)


@pytest.mark.parametrize("slow_step", ["delay", "back-off"])
def test_a_run_timeout_during_a_delay_or_a_back_off_ends_error(
    user: User, drain: Callable[[], int], slow_step: str, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/x").respond_with_data("busy", status=500)
    if slow_step == "delay":
        node = {"id": "wait", "type": "delay", "config": {"duration_ms": 30000}}
    else:  # a step retrying a server that answers 500, with long back-offs
        node = {"id": "wait", "type": "http_call", "config": {"url": httpserver.url_for("/x")},
                "retry": {"max_attempts": 5, "initial_delay_ms": 30000}}  # fmt: skip
    definition = {
        "schema_version": 1, "name": "Too slow", "slug": "too-slow",
        "settings": {"run_timeout_ms": 1000},
        "nodes": [{"id": "hook", "type": "webhook_trigger"}, node],
        "edges": [{"source": "hook", "target": "wait"}],
    }  # fmt: skip
    project = personal_project(user)
    allow_server(project, httpserver.url_for("/"))
    run = start_run(make_workflow(project, definition), user, honor_delays=True)
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.ERROR
    assert run.error == "The run timed out after 1,000 ms."
    assert run.steps.get(node_id="wait").status == "failed"
    assert run.events.filter(type="run_finished").count() == 1
