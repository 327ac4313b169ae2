"""The worker job through a real Redis queue and a burst worker, against a real HTTP server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from pytest_httpserver import HTTPServer

from testruns.jobs import drive_run
from testruns.models import RunEvent, RunStatus, StepRun, TestRun
from testruns.services import (
    RunStateError,
    cancel_run,
    override_next_input,
    rerun,
    resume_run,
)
from testruns.sweep import sweep_stale_runs
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
    return make_user("runner")


@pytest.fixture
def api(httpserver: HTTPServer) -> HTTPServer:
    httpserver.expect_request("/items", method="POST").respond_with_json({"id": 7}, status=201)
    return httpserver


@pytest.fixture
def workflow(user: User, api: HTTPServer) -> Any:
    base = api.url_for("").rstrip("/")
    project = personal_project(user)
    allow_server(project, base)
    return make_workflow(project, http_chain_definition(base))


def statuses(run: TestRun) -> dict[str, str]:
    return {s.node_id: s.status for s in run.steps.filter(iteration__isnull=True)}


def calls(server: HTTPServer) -> int:
    return len(server.log)


def test_run_all_executes_every_step_and_logs_dense_events(
    workflow: Any, user: User, api: HTTPServer, drain: Callable[[], int]
) -> None:
    run = start_run(workflow, user)
    assert run.status == RunStatus.QUEUED
    assert drain() == 1
    run.refresh_from_db()
    assert run.status == RunStatus.PASSED
    assert statuses(run) == {
        "hook": "succeeded",
        "shape": "succeeded",
        "call": "succeeded",
        "check": "succeeded",
        "ok": "succeeded",
        "alert": "skipped",
    }
    assert (run.succeeded_count, run.failed_count, run.skipped_count) == (5, 0, 1)
    assert run.duration_ms is not None
    assert run.completed_at is not None
    seqs = list(run.events.values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    types = list(run.events.values_list("type", flat=True))
    assert types[:2] == ["run_queued", "run_started"]
    assert types[-1] == "run_finished"
    assert "http_attempt" in types
    request = api.log[0][0]
    assert request.headers["X-MeshHook-Test-Run"] == str(run.id)
    call = run.steps.get(node_id="call")
    assert call.output is not None
    assert call.output["status"] == 201
    assert call.output["data"] == {"id": 7}
    assert call.http
    assert call.http[0]["response"]["status"] == 201
    assert list(
        run.steps.exclude(position=None).order_by("position").values_list("node_id", flat=True)
    ) == ["hook", "shape", "call", "check", "ok"]


def test_branch_false_takes_the_other_edge(workflow: Any, user: User, drain: Any) -> None:
    run = start_run(workflow, user, payload={"name": "Bob", "score": 10})
    drain()
    run.refresh_from_db()
    assert statuses(run)["ok"] == "skipped"
    assert run.steps.get(node_id="alert").output == {"rejected": "Bob"}


def test_failed_http_step_fails_the_run_and_skips_the_rest(
    user: User, httpserver: HTTPServer, drain: Any
) -> None:
    httpserver.expect_request("/items").respond_with_data("down", status=500)
    base = httpserver.url_for("").rstrip("/")
    allow_server(personal_project(user), base)
    run = start_run(make_workflow(personal_project(user), http_chain_definition(base)), user)
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "500" in run.error
    assert statuses(run) == {
        "hook": "succeeded",
        "shape": "succeeded",
        "call": "failed",
        "check": "skipped",
        "ok": "skipped",
        "alert": "skipped",
    }
    assert run.events.filter(type="step_failed", node_id="call", level="error").exists()


def test_host_off_the_allowlist_fails_the_step_naming_host_and_environment(
    user: User, httpserver: HTTPServer, drain: Any
) -> None:
    base = httpserver.url_for("").rstrip("/")
    project = personal_project(user)
    environment = project.environments.get(name="local")
    environment.allowed_hosts = ["api.example.com"]
    environment.save()
    run = start_run(make_workflow(project, http_chain_definition(base)), user)
    drain()
    run.refresh_from_db()
    call = run.steps.get(node_id="call")
    assert call.status == "failed"
    assert "localhost" in call.error
    assert "local" in call.error
    assert len(httpserver.log) == 0


def test_step_mode_pauses_before_the_trigger_and_each_advance_runs_one_step(
    workflow: Any, user: User, api: HTTPServer, drain: Any
) -> None:
    run = start_run(workflow, user, mode="step")
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.PAUSED
    assert run.paused_before == "hook"
    assert run.steps.exclude(status="pending").count() == 0
    executed = []
    for advance in range(1, 10):
        before_calls = calls(api)
        next_node = run.paused_before
        resume_run(run, steps=1)
        drain()
        run.refresh_from_db()
        executed.append(next_node)
        # The HTTP server is called exactly when the HTTP step is advanced, never before.
        assert calls(api) - before_calls == (1 if next_node == "call" else 0)
        ran = run.steps.filter(iteration__isnull=True).exclude(status__in=["pending", "skipped"])
        assert ran.count() == advance
        if run.status != RunStatus.PAUSED:
            break
    assert run.status == RunStatus.PASSED
    assert executed == ["hook", "shape", "call", "check", "ok"]


def test_paused_run_preview_shows_the_resolved_input_of_the_next_step(
    workflow: Any, user: User, drain: Any
) -> None:
    run = start_run(workflow, user, mode="step")
    drain()
    for _ in range(2):
        resume_run(run, steps=1)
        drain()
    run.refresh_from_db()
    assert run.paused_before == "call"
    call = run.steps.get(node_id="call")
    assert call.status == "pending"
    assert call.input == {"name": "Ada", "score": 90}
    assert call.resolved_config is not None
    assert call.resolved_config["method"] == "POST"


def test_input_override_is_used_logged_and_marked(
    workflow: Any, user: User, api: HTTPServer, drain: Any
) -> None:
    run = start_run(workflow, user, mode="step")
    drain()
    resume_run(run, steps=1)
    drain()
    run.refresh_from_db()
    assert run.paused_before == "shape"
    override_next_input(run, "shape", {"body": {"name": "Eve", "score": 99}})
    resume_run(run, steps=None)
    drain()
    run.refresh_from_db()
    shape = run.steps.get(node_id="shape")
    assert shape.output == {"name": "Eve", "score": 99}
    assert shape.input_overridden
    assert run.events.filter(type="log", message__contains="overridden").exists()
    assert api.log[0][0].get_json() == {"name": "Eve", "score": 99}


def test_breakpoint_pauses_run_all_and_continue_runs_to_the_end(
    workflow: Any, user: User, api: HTTPServer, drain: Any
) -> None:
    run = start_run(workflow, user, breakpoints=["call"])
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.PAUSED
    assert run.paused_before == "call"
    assert calls(api) == 0
    resume_run(run, steps=None)
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.PASSED
    assert calls(api) == 1


def test_run_to_here_pauses_before_the_chosen_node(workflow: Any, user: User, drain: Any) -> None:
    run = start_run(workflow, user, mode="step")
    drain()
    resume_run(run, steps=None, until="check")
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.PAUSED
    assert run.paused_before == "check"
    assert statuses(run)["call"] == "succeeded"


def test_cancel_while_paused_stops_and_nothing_runs_after(
    workflow: Any, user: User, api: HTTPServer, drain: Any
) -> None:
    run = start_run(workflow, user, mode="step")
    drain()
    cancel_run(run)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert set(statuses(run).values()) == {"skipped"}
    with pytest.raises(RunStateError):
        cancel_run(run)
    with pytest.raises(RunStateError):
        resume_run(run, steps=1)
    drive_run(str(run.id))  # a stale job changes nothing
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert calls(api) == 0
    assert run.events.last().type == "run_finished"  # type: ignore[union-attr]


def test_finished_run_is_not_changed_by_a_late_job(workflow: Any, user: User, drain: Any) -> None:
    run = start_run(workflow, user)
    drain()
    run.refresh_from_db()
    events = run.events.count()
    drive_run(str(run.id))
    run.refresh_from_db()
    assert run.status == RunStatus.PASSED
    assert run.events.count() == events


def test_mocked_step_makes_no_request_and_is_marked(
    workflow: Any, user: User, api: HTTPServer, drain: Any
) -> None:
    run = start_run(workflow, user, mocks={"call": {"status": 201, "data": {"id": 1}}})
    drain()
    run.refresh_from_db()
    call = run.steps.get(node_id="call")
    assert call.status == "succeeded"
    assert call.mocked
    assert call.display_status == "mocked"
    assert call.output == {"status": 201, "data": {"id": 1}}
    assert calls(api) == 0
    assert run.status == RunStatus.PASSED


def test_rerun_from_a_step_reuses_earlier_outputs_without_calling_them(
    workflow: Any, user: User, api: HTTPServer, drain: Any
) -> None:
    first = start_run(workflow, user)
    drain()
    assert calls(api) == 1
    second = rerun(first, user=user, source="console", from_step="check")
    drain()
    second.refresh_from_db()
    assert calls(api) == 1  # the HTTP step before `check` was reused, not called
    assert second.status == RunStatus.PASSED
    assert second.source_run == first
    reused = set(second.steps.filter(reused=True).values_list("node_id", flat=True))
    assert reused == {"hook", "shape", "call"}
    assert second.steps.get(node_id="ok").output == {"accepted": "Ada"}
    rerun(first, user=user, source="console", from_step="call")
    drain()
    assert calls(api) == 2  # from the HTTP step itself: it runs again


def test_rerun_with_new_payload(workflow: Any, user: User, drain: Any) -> None:
    first = start_run(workflow, user)
    drain()
    second = rerun(first, user=user, source="api", overrides={"payload": {"name": "Z", "score": 1}})
    drain()
    second.refresh_from_db()
    assert second.payload == {"name": "Z", "score": 1}
    assert second.source == "api"
    assert statuses(second)["alert"] == "succeeded"


def test_sweep_resumes_lost_runs_and_expires_paused_runs(
    workflow: Any, user: User, drain: Any, run_queue: Any
) -> None:
    lost = start_run(workflow, user)
    run_queue.empty()  # its worker died with the job
    TestRun.objects.filter(pk=lost.pk).update(
        status=RunStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(minutes=10), lease=3
    )
    paused = start_run(workflow, user, mode="step")
    drain()
    TestRun.objects.filter(pk=paused.pk).update(heartbeat_at=timezone.now() - timedelta(hours=2))
    fresh = start_run(workflow, user, mode="step")
    drain()
    assert sweep_stale_runs() == {"resumed": 1, "lost": 0, "expired": 1}
    lost.refresh_from_db()
    assert (lost.status, lost.resumes) == (RunStatus.RUNNING, 1)
    assert lost.lease > 3  # the lost driver can no longer write
    assert [j for j in run_queue.get_job_ids() if str(lost.id) in j]
    drain()  # another worker takes it over and finishes it
    lost.refresh_from_db()
    paused.refresh_from_db()
    fresh.refresh_from_db()
    assert lost.status == RunStatus.PASSED
    assert lost.events.filter(type="log", message__contains="resuming on another worker").exists()
    assert lost.events.filter(type="run_finished").count() == 1
    assert paused.status == RunStatus.CANCELLED
    assert fresh.status == RunStatus.PAUSED


def test_sweep_ends_a_run_lost_too_often_as_error_naming_the_step(
    workflow: Any, user: User, run_queue: Any, settings: Any
) -> None:
    run = start_run(workflow, user)
    run_queue.empty()
    TestRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(minutes=10),
        resumes=settings.RUN_MAX_RESUMES,
    )  # fmt: skip
    run.steps.filter(node_id="hook").update(status="running")
    assert sweep_stale_runs() == {"resumed": 0, "lost": 1, "expired": 0}
    run.refresh_from_db()
    assert run.status == RunStatus.ERROR
    assert run.error.startswith(
        "The worker running this test run was lost while running step 'hook'"
    )
    assert run.steps.get(node_id="hook").status == "failed"


def test_loop_body_steps_are_recorded_per_iteration(user: User, drain: Any, run_queue: Any) -> None:
    definition = {
        "schema_version": 1,
        "name": "Loop",
        "slug": "loop",
        "nodes": [
            {"id": "hook", "type": "webhook_trigger"},
            {"id": "each", "type": "loop", "config": {"items": "body.items"}},
            {
                "id": "double",
                "type": "transform",
                "parent": "each",
                "config": {"template": {"value": "{{ item }}", "index": "{{ index }}"}},
            },
        ],
        "edges": [{"source": "hook", "target": "each"}],
    }
    workflow = make_workflow(personal_project(user), definition)
    run = start_run(workflow, user, payload={"items": [1, 2, 3]})
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.PASSED
    body = StepRun.objects.filter(run=run, node_id="double").order_by("iteration")
    assert [s.iteration for s in body] == [0, 1, 2]
    assert [s.output for s in body] == [{"value": i, "index": n} for n, i in enumerate([1, 2, 3])]
    assert not StepRun.objects.filter(run=run, node_id="double", iteration__isnull=True).exists()
    assert run.total_steps == 5


def test_events_reach_the_channel_layer_group(workflow: Any, user: User, drain: Any) -> None:
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from testruns.broadcast import run_group

    layer = get_channel_layer()
    run = start_run(workflow, user)
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(run_group(run.id), channel)
    drain()
    last = RunEvent.objects.filter(run=run).order_by("-seq").first()
    seen = 0
    while seen < (last.seq if last else 0):
        message = async_to_sync(layer.receive)(channel)
        assert message["type"] == "run.changed"
        seen = max(seen, message["last_seq"])
    assert seen == last.seq  # type: ignore[union-attr]


def test_single_step_runs_only_that_node_with_the_given_input(
    workflow: Any, user: User, api: HTTPServer, drain: Any
) -> None:
    from testruns.services import test_single_step

    first = start_run(workflow, user)
    drain()
    assert calls(api) == 1
    single = test_single_step(first, "ok", {"name": "Single", "score": 99}, user=user)
    drain()
    single.refresh_from_db()
    assert single.status == RunStatus.PASSED
    assert list(single.steps.values_list("node_id", flat=True)) == ["ok"]
    assert single.steps.get().output == {"accepted": "Single"}
    assert single.total_steps == 1
    assert single.source_run == first
    assert calls(api) == 1  # nothing else ran

    # An HTTP step tested on its own calls the server exactly once.
    http_only = test_single_step(first, "call", {"ping": True}, user=user)
    drain()
    http_only.refresh_from_db()
    assert http_only.status == RunStatus.PASSED
    assert calls(api) == 2
    assert api.log[-1][0].get_json() == {"ping": True}
