"""Writing a run's rows from the worker: JSON conversion, heartbeats, terminal errors,
and turning stored steps back into the engine's run state."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from meshhook.engine import RunInput, RunResult, RunState, StepRecord, Workflow, mask_headers
from testruns.eventlog import NewEvent, append_events
from testruns.models import ACTIVE_STATUSES, RunStatus, StepStatus, TestRun

HEARTBEAT_SECONDS = 10.0
TERMINATE_STATUS = {"success": "passed", "failure": "failed", "cancelled": "cancelled"}


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def jsonable(value: Any) -> Any:
    """Engine values as plain JSON (dataclasses, mappings, tuples…) for JSONField columns."""
    return json.loads(json.dumps(value, default=_plain))


def stored_output(node_type: str, output: Any) -> Any:
    """A step's output as it is kept and shown: the trigger's request headers masked
    (Authorization, Cookie, API keys…), like every other place headers appear."""
    output = jsonable(output)
    trigger = node_type == "webhook_trigger" and isinstance(output, dict)
    if trigger and isinstance(output.get("headers"), dict):
        output["headers"] = mask_headers(output["headers"])
    return output


@contextmanager
def heartbeat(run_id: uuid.UUID, interval: float = HEARTBEAT_SECONDS) -> Iterator[None]:
    """Keep the run's heartbeat fresh while a long step (delay, retries) executes."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(interval):
                TestRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
                    heartbeat_at=timezone.now()
                )
        finally:
            connection.close()

    thread = threading.Thread(target=beat, daemon=True, name=f"heartbeat-{str(run_id)[:8]}")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def refresh_summary(run: TestRun) -> None:
    counts = run.steps.aggregate(
        total=Count("id"),
        succeeded=Count("id", filter=Q(status=StepStatus.SUCCEEDED)),
        failed=Count("id", filter=Q(status=StepStatus.FAILED)),
        skipped=Count("id", filter=Q(status=StepStatus.SKIPPED)),
    )
    TestRun.objects.filter(pk=run.pk).update(
        total_steps=counts["total"],
        succeeded_count=counts["succeeded"],
        failed_count=counts["failed"],
        skipped_count=counts["skipped"],
    )


def store_duration(run_id: uuid.UUID | str) -> None:
    run = TestRun.objects.only("started_at", "completed_at").get(pk=run_id)
    if run.started_at and run.completed_at:
        millis = int((run.completed_at - run.started_at).total_seconds() * 1000)
        TestRun.objects.filter(pk=run_id).update(duration_ms=max(0, millis))


def finish_with_error(
    run_id: uuid.UUID | str, message: str, *, heartbeat_before: datetime | None = None
) -> bool:
    """End an active run as `error` (infrastructure: lost worker, timeout, internal bug).

    `heartbeat_before` makes it conditional on the heartbeat still being stale, so the
    sweeper cannot kill a run that its worker just touched.
    """
    now = timezone.now()
    with transaction.atomic():
        runs = TestRun.objects.filter(pk=run_id, status__in=ACTIVE_STATUSES)
        if heartbeat_before is not None:
            runs = runs.filter(status=RunStatus.RUNNING, heartbeat_at__lt=heartbeat_before)
        if not runs.update(status=RunStatus.ERROR, error=message, completed_at=now):
            return False
        run = TestRun.objects.get(pk=run_id)
        # A step that had started may have had its effect; it did not finish.
        run.steps.filter(status=StepStatus.RUNNING).update(
            status=StepStatus.FAILED, error=message, completed_at=now
        )
        run.steps.filter(status=StepStatus.PENDING).update(status=StepStatus.SKIPPED)
        store_duration(run_id)
        refresh_summary(run)
        append_events(
            run_id, [NewEvent("run_finished", message, level="error", data={"status": "error"})]
        )
    return True


def state_from_rows(workflow: Workflow, run_input: RunInput, run: TestRun) -> RunState:
    """The engine's run state rebuilt from a run's stored top-level steps.

    Used when a drive starts (after a pause, a re-run's reused steps, a single-step test);
    within one drive the worker keeps the engine's own in-memory records, which still hold
    values that are masked when stored.
    """
    records: dict[str, StepRecord] = {}
    finished = [StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED]
    for step in run.steps.filter(iteration__isnull=True, parent_node_id="", status__in=finished):
        if not workflow.has_node(step.node_id):
            continue
        node = workflow.node(step.node_id)
        terminate = None
        if node.type == "terminate" and step.status == StepStatus.SUCCEEDED:
            terminate = RunResult(
                status=TERMINATE_STATUS.get(str(node.config.get("status")), "passed"),  # type: ignore[arg-type]
                reason=None,
                output=step.output,
                failed_node=None,
            )
        records[step.node_id] = StepRecord(
            status=step.status,  # type: ignore[arg-type]
            output=step.output,
            error=step.error or None,
            branch=step.branch,
            terminate=terminate,
            on_error_tolerated=step.status == StepStatus.FAILED and node.on_error == "continue",
        )
    return RunState(run=run_input, steps=records)
