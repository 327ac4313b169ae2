"""Group commit of fast steps: batched writes never change what is stored or shown, a cancel
between two steps of a batch stops the next one, and a crash mid-batch loses nothing that
was broadcast."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User

from meshhook.engine import execute_step
from testruns import driver, stepwriter
from testruns.broadcast import broadcaster
from testruns.models import RunEvent, RunStatus, StepRun, StepStatus, TestRun
from testruns.services import cancel_run
from tests.factories import make_user, make_workflow, personal_project, start_run

pytestmark = pytest.mark.django_db(transaction=True)

STEPS = 12


def chain(slug: str = "chain-of-transforms") -> dict[str, Any]:
    nodes = [{"id": "hook", "type": "webhook_trigger"}] + [
        {"id": f"t{i}", "type": "transform", "config": {"expression": "@"}} for i in range(STEPS)
    ]
    ids = [node["id"] for node in nodes]
    edges = [{"source": a, "target": b} for a, b in itertools.pairwise(ids)]
    return {"schema_version": 1, "name": "Chain", "slug": slug, "nodes": nodes, "edges": edges}


@pytest.fixture
def user() -> User:
    return make_user("batcher")


class CrashedWorker(BaseException):
    """Stands for the process dying: not an Exception, so nothing in the job catches it."""


def executed_steps(monkeypatch: pytest.MonkeyPatch, after: Callable[[str], None]) -> list[str]:
    """Record each step the driver executes and call `after(node_id)` once it has."""
    seen: list[str] = []
    real = execute_step  # what the driver calls (imported there from the engine)

    def spying(workflow: Any, node_id: str, *args: Any, **kwargs: Any) -> Any:
        outcome = real(workflow, node_id, *args, **kwargs)
        seen.append(node_id)
        after(node_id)
        return outcome

    monkeypatch.setattr(driver, "execute_step", spying)
    return seen


def test_a_batched_run_stores_every_step_and_a_dense_log(
    user: User, drain: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    flushes: list[int] = []
    real_flush = stepwriter.StepWriter.flush

    def counting(self: stepwriter.StepWriter) -> bool:
        flushes.append(1)
        return real_flush(self)

    monkeypatch.setattr(stepwriter.StepWriter, "flush", counting)
    monkeypatch.setattr(stepwriter, "FLUSH_SECONDS", 60.0)  # only the row limit flushes
    monkeypatch.setattr(stepwriter, "FLUSH_ROWS", 5)
    run = start_run(make_workflow(personal_project(user), chain()), user, payload={"a": 1})
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.PASSED
    assert (run.total_steps, run.succeeded_count, run.failed_count) == (STEPS + 1, STEPS + 1, 0)
    steps = list(StepRun.objects.filter(run=run).order_by("position"))
    assert [s.position for s in steps] == list(range(1, STEPS + 2))
    assert all(s.status == StepStatus.SUCCEEDED for s in steps)
    assert steps[-1].output == steps[0].output  # each transform passed its input on
    trigger_output = steps[0].output
    assert isinstance(trigger_output, dict)
    assert trigger_output["body"] == {"a": 1}
    assert all(s.started_at is not None and s.completed_at is not None for s in steps)
    seqs = list(RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    types = list(RunEvent.objects.filter(run=run).values_list("type", flat=True))
    assert types.count("step_started") == types.count("step_succeeded") == STEPS + 1
    # 13 steps in batches of 5, plus the final flush: far fewer commits than steps.
    assert len(flushes) <= 4


def test_a_cancel_between_two_steps_of_a_batch_stops_the_next_step(
    user: User, drain: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stepwriter, "FLUSH_SECONDS", 60.0)
    workflow = make_workflow(personal_project(user), chain())
    run = start_run(workflow, user, payload={"a": 1})

    def cancel_after_t2(node_id: str) -> None:
        if node_id == "t2":
            cancel_run(TestRun.objects.get(pk=run.pk))

    seen = executed_steps(monkeypatch, cancel_after_t2)
    drain()
    assert seen == ["hook", "t0", "t1", "t2"]
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    # Nothing of the unflushed batch was written after the cancel.
    assert not StepRun.objects.filter(run=run, status=StepStatus.SUCCEEDED).exists()
    types = list(run.events.order_by("seq").values_list("type", flat=True))
    assert types[-1] == "run_finished"
    assert types.count("run_finished") == 1


def test_a_crash_mid_batch_loses_no_event_that_was_broadcast(
    user: User, run_queue: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stepwriter, "FLUSH_SECONDS", 60.0)
    monkeypatch.setattr(stepwriter, "FLUSH_ROWS", 4)
    announced: list[int] = []
    real_notify = broadcaster.notify

    def recording(run_id: Any, last_seq: int, project_id: int) -> None:
        announced.append(last_seq)
        real_notify(run_id, last_seq, project_id)

    monkeypatch.setattr(broadcaster, "notify", recording)
    run = start_run(make_workflow(personal_project(user), chain()), user, payload={"a": 1})

    def crash_at_t6(node_id: str) -> None:
        if node_id == "t6":
            raise CrashedWorker

    executed_steps(monkeypatch, crash_at_t6)
    with pytest.raises(CrashedWorker):  # in this process: RQ would catch it for us
        driver.RunDriver(str(run.id)).drive()
    broadcaster.flush()
    stored = list(RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", flat=True))
    assert announced
    assert max(announced) <= len(stored)
    assert stored == list(range(1, len(stored) + 1))
    # The batch in memory at the crash (t3…t6) was never written, so never shown as done.
    succeeded = set(StepRun.objects.filter(run=run, status=StepStatus.SUCCEEDED).values_list(
        "node_id", flat=True))  # fmt: skip
    assert succeeded == {"hook", "t0", "t1", "t2"}


def test_summary_counts_moved_with_the_writes_equal_a_recount(
    user: User, drain: Callable[[], int]
) -> None:
    definition = {
        "schema_version": 1, "name": "Mixed", "slug": "mixed",
        "nodes": [
            {"id": "hook", "type": "webhook_trigger"},
            {"id": "gate", "type": "branch", "config": {"condition": "body.go"}},
            {"id": "never", "type": "transform", "config": {"expression": "@"}},
            {"id": "each", "type": "loop", "config": {"items": "body.items"}},
            {"id": "inner", "type": "transform", "parent": "each", "config": {"expression": "@"}},
            {"id": "oops", "type": "transform", "on_error": "continue",
             "config": {"template": {"x": "{{ missing.value }}"}}},
            {"id": "done", "type": "terminate", "config": {"status": "success"}},
        ],
        "edges": [
            {"source": "hook", "target": "gate"},
            {"source": "gate", "target": "never", "when": "false"},
            {"source": "gate", "target": "each", "when": "true"},
            {"source": "each", "target": "oops"}, {"source": "oops", "target": "done"},
        ],
    }  # fmt: skip
    run = start_run(
        make_workflow(personal_project(user), definition), user,
        payload={"go": True, "items": [1, 2, 3]},
    )  # fmt: skip
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.PASSED, run.error
    stored = (run.total_steps, run.succeeded_count, run.failed_count, run.skipped_count)
    steps = StepRun.objects.filter(run=run)
    recount = (
        steps.count(),
        steps.filter(status=StepStatus.SUCCEEDED).count(),
        steps.filter(status=StepStatus.FAILED).count(),
        steps.filter(status=StepStatus.SKIPPED).count(),
    )
    assert stored == recount == (9, 7, 1, 1)
