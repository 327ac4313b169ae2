"""The run lifecycle: every status change goes through `testruns.lifecycle`, a run ends
exactly once (with its hook and one `run_finished`), and nothing is logged after the end.
Also: every view of a run lists a loop's steps in the same order."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from testruns import driver, lifecycle
from testruns.compare import compare_runs
from testruns.eventlog import NewEvent, append_events
from testruns.models import RunEvent, RunStatus, StepRun, TestRun
from testruns.presenters import run_context
from testruns.services import cancel_run, resume_run
from testruns.sweep import sweep_stale_runs
from tests.factories import make_user, make_workflow, personal_project, start_run

pytestmark = pytest.mark.django_db(transaction=True)

LOOP_DEFINITION: dict[str, Any] = {
    "schema_version": 1,
    "name": "Loop order",
    "slug": "loop-order",
    "nodes": [
        {"id": "hook", "type": "webhook_trigger"},
        {"id": "each", "type": "loop", "config": {"items": "body.items"}},
        {"id": "a", "type": "transform", "parent": "each", "config": {"expression": "@"}},
        {"id": "b", "type": "transform", "parent": "each", "config": {"expression": "@"}},
        {"id": "done", "type": "terminate", "config": {"status": "success"}},
    ],
    "edges": [
        {"source": "hook", "target": "each"},
        {"source": "a", "target": "b"},
        {"source": "each", "target": "done"},
    ],
}


@pytest.fixture
def user() -> User:
    return make_user("lifecycle")


@pytest.fixture
def transitions(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every status change made through `lifecycle.transition`, as (run id, new status)."""
    calls: list[tuple[str, str]] = []
    real = lifecycle.transition

    def recording(run_id: Any, from_states: Any, to_state: Any, **fields: Any) -> bool:
        changed = real(run_id, from_states, to_state, **fields)
        if changed:
            calls.append((str(run_id), str(to_state)))
        return changed

    monkeypatch.setattr(lifecycle, "transition", recording)
    return calls


def status_changes_pass_through_lifecycle(run: TestRun, calls: list[tuple[str, str]]) -> list[str]:
    """The statuses the run went through; the row must agree with the last of them, so a
    status written around the lifecycle would show."""
    run.refresh_from_db()
    mine = [status for run_id, status in calls if run_id == str(run.id)]
    assert mine, "no status change went through lifecycle.transition"
    assert mine[-1] == run.status
    return mine


def test_finish_passes_through_the_lifecycle(
    user: User, drain: Callable[[], int], transitions: list[tuple[str, str]]
) -> None:
    run = start_run(make_workflow(personal_project(user)), user)
    drain()
    assert status_changes_pass_through_lifecycle(run, transitions) == ["running", "passed"]


def test_pause_and_resume_pass_through_the_lifecycle(
    user: User, drain: Callable[[], int], transitions: list[tuple[str, str]]
) -> None:
    run = start_run(make_workflow(personal_project(user)), user, mode="step")
    drain()
    assert status_changes_pass_through_lifecycle(run, transitions) == ["running", "paused"]
    resume_run(run, steps=None)
    drain()
    statuses = status_changes_pass_through_lifecycle(run, transitions)
    assert statuses == ["running", "paused", "running", "passed"]


def test_cancel_passes_through_the_lifecycle(
    user: User, transitions: list[tuple[str, str]], run_queue: Any
) -> None:
    run = start_run(make_workflow(personal_project(user)), user)
    cancel_run(run)
    assert status_changes_pass_through_lifecycle(run, transitions) == ["cancelled"]


def test_internal_error_passes_through_the_lifecycle(
    user: User,
    drain: Callable[[], int],
    transitions: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = start_run(make_workflow(personal_project(user)), user)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("engine bug")

    monkeypatch.setattr(driver, "execute_step", broken)
    drain()
    assert status_changes_pass_through_lifecycle(run, transitions) == ["running", "error"]
    run.refresh_from_db()
    assert run.error == "Internal error: RuntimeError: engine bug"


def test_sweep_passes_through_the_lifecycle(
    user: User, transitions: list[tuple[str, str]], run_queue: Any, settings: Any
) -> None:
    run = start_run(make_workflow(personal_project(user)), user)
    run_queue.empty()  # its job is lost, and it was taken over too often already
    stale = timezone.now() - timedelta(hours=1)
    TestRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, started_at=stale, heartbeat_at=stale,
        resumes=settings.RUN_MAX_RESUMES,
    )  # fmt: skip
    assert sweep_stale_runs()["lost"] == 1
    assert status_changes_pass_through_lifecycle(run, transitions) == ["error"]


def test_a_run_ends_once_with_one_run_finished_and_its_hook_once(
    user: User, run_queue: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ended: list[str] = []
    monkeypatch.setattr(lifecycle, "_run_ended_hooks", [lambda run: ended.append(run.status)])
    run = start_run(make_workflow(personal_project(user)), user)
    assert lifecycle.end_run(run.id, "cancelled", "first")
    assert not lifecycle.end_run(run.id, "error", "second")
    run.refresh_from_db()
    assert (run.status, run.error) == ("cancelled", "first")
    assert ended == ["cancelled"]
    assert run.events.filter(type="run_finished").count() == 1
    assert set(run.steps.values_list("status", flat=True)) == {"skipped"}


def test_the_run_ended_hook_may_change_the_verdict(
    user: User, drain: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail_it(run: TestRun) -> None:
        run.status = RunStatus.FAILED
        run.error = "1 assertion failed"

    monkeypatch.setattr(lifecycle, "_run_ended_hooks", [fail_it])
    run = start_run(make_workflow(personal_project(user)), user)
    drain()
    run.refresh_from_db()
    assert (run.status, run.error) == ("failed", "1 assertion failed")
    finished = run.events.get(type="run_finished")
    assert finished.data == {"status": "failed"}
    assert finished.message == "Test run failed: 1 assertion failed"


def test_nothing_is_logged_after_run_finished(user: User, drain: Callable[[], int]) -> None:
    """A cancel that wins before the worker claims the run: the worker writes nothing, and
    no later writer can append past `run_finished`."""
    run = start_run(make_workflow(personal_project(user)), user)
    cancel_run(run)
    drain()
    assert not lifecycle.claim(run.id, started_message="late")
    assert append_events(run.id, [NewEvent("log", "late line")]) == 0
    types = list(run.events.order_by("seq").values_list("type", flat=True))
    assert types == ["run_queued", "run_finished"]


def test_run_started_never_follows_run_finished_under_racing_cancels(
    user: User, drain: Callable[[], int]
) -> None:
    workflow = make_workflow(personal_project(user))
    runs = [start_run(workflow, user) for _ in range(20)]
    for run in runs[::2]:
        cancel_run(run)
    drain()
    for run in runs:
        types = list(run.events.order_by("seq").values_list("type", flat=True))
        assert types.count("run_finished") == 1
        assert types[-1] == "run_finished"


def test_page_api_export_and_compare_list_loop_steps_in_one_order(
    user: User, drain: Callable[[], int]
) -> None:
    workflow = make_workflow(personal_project(user), LOOP_DEFINITION)
    first = start_run(workflow, user, payload={"items": [1, 2]})
    second = start_run(workflow, user, payload={"items": [3, 4]})
    drain()
    first.refresh_from_db()
    assert first.status == RunStatus.PASSED
    expected = ["hook", "each", "a[0]", "b[0]", "a[1]", "b[1]", "done"]

    def label(step: StepRun) -> str:
        return step.node_id if step.iteration is None else f"{step.node_id}[{step.iteration}]"

    page = [label(view.step) for view in run_context(first)["steps"]]
    client = Client()
    client.force_login(user)
    api = client.get(f"/api/test-runs/{first.id}").json()["steps"]
    export = json.loads(client.get(f"/api/test-runs/{first.id}/export").content)["steps"]

    def api_label(step: dict[str, Any]) -> str:
        node = step["node_id"]
        return node if step["iteration"] is None else f"{node}[{step['iteration']}]"

    compared = [pair.key for pair in compare_runs(first, second)["steps"]]
    assert page == expected
    assert [api_label(step) for step in api] == expected
    assert [api_label(step) for step in export] == expected
    assert compared == expected
    assert RunEvent.objects.filter(run=first, type="run_finished").count() == 1
