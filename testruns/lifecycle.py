"""Every status change of a test run, in one place (DESIGN §3).

A run moves `queued → running ⇄ paused → passed | failed | cancelled | error`. Each move
is a conditional UPDATE from the statuses it may come from, so a finished run is never
changed by a late writer (a slow worker, a double click, a sweep): whoever loses the race
changes nothing and is told so.

`transition` is the one conditional update; `touch` is the same for writes that keep the
status (heartbeats, step-mode counters); `end_run` is the one way a run ends: it sets the
final status, settles the steps that did not finish, stores the duration and summary,
fires the `run_ended` hook once and writes `run_finished`, all in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from testruns.eventlog import NewEvent, append_events, store_reserved
from testruns.models import (
    ACTIVE_STATUSES,
    EventLevel,
    RunStatus,
    RunStatusValue,
    StepRun,
    StepStatus,
    TestRun,
)

RunId = uuid.UUID | str
RunEndedHook = Callable[[TestRun], None]

FINISHED_WORDS = {
    RunStatus.PASSED: "passed",
    RunStatus.FAILED: "failed",
    RunStatus.CANCELLED: "was cancelled",
    RunStatus.ERROR: "ended in error",
}
FINISHED_LEVEL: dict[str, EventLevel] = {RunStatus.PASSED: "info", RunStatus.CANCELLED: "warning"}

_run_ended_hooks: list[RunEndedHook] = []


def on_run_ended(hook: RunEndedHook) -> RunEndedHook:
    """Register `hook(run)` to run once when any run ends, inside the ending transaction,
    after the final status, steps and summary are stored and before `run_finished` is
    written. A hook may still change the run's `status` and `error` (test-case assertions
    turn `passed` into `failed`); what it leaves is what `run_finished` reports. Work that
    must not hold the transaction belongs in `transaction.on_commit`."""
    _run_ended_hooks.append(hook)
    return hook


def transition(
    run_id: RunId,
    from_states: Iterable[str],
    to_state: RunStatus | RunStatusValue,
    *,
    where: Q | None = None,
    **fields: Any,
) -> bool:
    """Move the run to `to_state` (writing `fields` too) if it is in one of `from_states`
    (and matches `where`). True if this call changed it; False if the run had moved on."""
    runs = TestRun.objects.filter(pk=run_id, status__in=list(from_states))
    if where is not None:
        runs = runs.filter(where)
    return bool(runs.update(status=to_state, **fields))


def touch(run_id: RunId, states: Iterable[str], *, where: Q | None = None, **fields: Any) -> bool:
    """Write `fields` only while the run is in one of `states` (and matches `where`), its
    status unchanged."""
    runs = TestRun.objects.filter(pk=run_id, status__in=list(states))
    if where is not None:
        runs = runs.filter(where)
    return bool(runs.update(**fields))


def claim(run_id: RunId, *, started_message: str) -> int | None:
    """A worker takes the run and gets its lease (None if the run is not its to drive).

    A queued run starts, with `run_started` in the same transaction, so it can never
    follow a cancel's `run_finished`. A run already `running` (resumed from a pause, handed
    back by a worker that shut down, or taken over from a lost one) gets a new lease: the
    previous driver's writes are refused from now on, and a step it left `running` goes
    back to `pending`, to run again."""
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        if transition(
            run_id,
            [RunStatus.QUEUED],
            RunStatus.RUNNING,
            started_at=now,
            heartbeat_at=now,
            lease=F("lease") + 1,
            last_seq=F("last_seq") + 1,  # reserved for run_started
        ):
            lease, last_seq, project_id = _lease_and_seq(run_id)
            event = NewEvent("run_started", started_message)
            store_reserved(run_id, [event], last_seq=last_seq, project_id=project_id)
            return lease
        if not touch(run_id, [RunStatus.RUNNING], heartbeat_at=now, lease=F("lease") + 1):
            return None
        steps = StepRun.objects.filter(run_id=uuid.UUID(str(run_id)))
        interrupted = list(
            steps.filter(status=StepStatus.RUNNING).values_list("node_id", flat=True)
        )
        if interrupted:
            steps.filter(status=StepStatus.RUNNING).update(
                status=StepStatus.PENDING, started_at=None, position=None
            )
            names = ", ".join(f"'{node_id}'" for node_id in interrupted)
            message = f"Taken over by another worker; {names} runs again."
            append_events(run_id, [NewEvent("log", message, level="warning")])
        return _lease_and_seq(run_id)[0]


def _lease_and_seq(run_id: RunId) -> tuple[int, int, int]:
    runs = TestRun.objects.filter(pk=run_id)
    lease, last_seq, project_id = runs.values_list("lease", "last_seq", "project_id").get()
    return int(lease), int(last_seq), int(project_id)


def pause(run_id: RunId, *, where: Q | None = None, **fields: Any) -> bool:
    return transition(
        run_id,
        [RunStatus.RUNNING],
        RunStatus.PAUSED,
        where=where,
        heartbeat_at=timezone.now(),
        **fields,
    )


def resume(run_id: RunId, **fields: Any) -> bool:
    return transition(run_id, [RunStatus.PAUSED], RunStatus.RUNNING, **fields)


def end_run(
    run_id: RunId,
    status: RunStatusValue,
    error: str = "",
    *,
    result: Any = None,
    from_states: Iterable[str] = ACTIVE_STATUSES,
    where: Q | None = None,
    running_step_error: str | None = None,
    message: str | None = None,
    steps_settled: bool = False,
) -> bool:
    """End an active run with `status`: the one way a run finishes.

    Steps still pending are `skipped`; a step still running is `failed` with
    `running_step_error` (default: `error`): it may have had its effect, but it did not
    finish. `where` narrows the condition (the sweeper's stale heartbeat). `message` is
    the text of `run_finished` (default: "Test run <status>[: error]"). A caller that
    knows no step is left pending or running and that the summary counts are current (the
    driver, which wrote every step) passes `steps_settled` and saves the recount. True if
    this call ended the run.
    """
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        if not transition(
            run_id,
            from_states,
            status,
            where=where,
            completed_at=now,
            error=error,
            paused_before="",
            result=result,
            last_seq=F("last_seq") + 1,  # reserved for run_finished
        ):
            return False
        if not steps_settled:
            steps = StepRun.objects.filter(run_id=uuid.UUID(str(run_id)))
            steps.filter(status=StepStatus.RUNNING).update(
                status=StepStatus.FAILED,
                error=error if running_step_error is None else running_step_error,
                completed_at=now,
            )
            steps.filter(status=StepStatus.PENDING).update(status=StepStatus.SKIPPED)
            refresh_summary(run_id)
        # Not the payload: no hook needs it, and it can be a megabyte.
        run = TestRun.objects.select_related("project", "workflow").defer("payload").get(pk=run_id)
        if run.started_at:
            run.duration_ms = max(0, int((now - run.started_at).total_seconds() * 1000))
        decided = (run.status, run.error)
        for hook in _run_ended_hooks:
            hook(run)
        run.save(update_fields=["duration_ms", "status", "error"])
        final = RunStatus(run.status)
        if message is None or (run.status, run.error) != decided:
            message = f"Test run {FINISHED_WORDS[final]}" + (f": {run.error}" if run.error else ".")
        event = NewEvent(
            "run_finished",
            message,
            level=FINISHED_LEVEL.get(final, "error"),
            data={"status": str(final)},
        )
        store_reserved(run_id, [event], last_seq=run.last_seq, project_id=run.project_id)
    return True


def refresh_summary(run_id: RunId) -> None:
    """Recount the run's step totals from its step rows."""
    counts = StepRun.objects.filter(run_id=uuid.UUID(str(run_id))).aggregate(
        total_steps=Count("id"),
        succeeded_count=Count("id", filter=Q(status=StepStatus.SUCCEEDED)),
        failed_count=Count("id", filter=Q(status=StepStatus.FAILED)),
        skipped_count=Count("id", filter=Q(status=StepStatus.SKIPPED)),
    )
    TestRun.objects.filter(pk=run_id).update(**counts)
