"""Writing a run's rows from the worker: JSON conversion, heartbeats, and turning stored
steps back into the engine's run state. Status changes live in `testruns.lifecycle`."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from typing import Any

from django.db import DatabaseError, connection
from django.db.models import Q
from django.utils import timezone

from meshhook.engine import (
    RunInput,
    RunResult,
    RunState,
    StepOutcome,
    StepRecord,
    Workflow,
    mask_headers,
)
from testruns import lifecycle
from testruns.models import RunStatus, StepStatus, TestRun

logger = logging.getLogger(__name__)

# Often enough that a cancel stops a step in flight within a second (see `lost` below).
HEARTBEAT_SECONDS = 0.5
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


def stored_size(outcome: StepOutcome) -> int:
    """About how many bytes storing the step takes: its input and output as JSON, and its
    loop items'."""
    values = [outcome.input, outcome.output]
    for item in outcome.iterations:
        values += [item.input, item.output]
    return sum(len(json.dumps(value, default=_plain)) for value in values if value is not None)


def stored_output(node_type: str, output: Any) -> Any:
    """A step's output as it is kept and shown: the trigger's request headers masked
    (Authorization, Cookie, API keys…), like every other place headers appear."""
    output = jsonable(output)
    trigger = node_type == "webhook_trigger" and isinstance(output, dict)
    if trigger and isinstance(output.get("headers"), dict):
        output["headers"] = mask_headers(output["headers"])
    return output


@contextmanager
def heartbeat(
    run_id: uuid.UUID,
    lease: int,
    interval: float = HEARTBEAT_SECONDS,
    lost: threading.Event | None = None,
) -> Iterator[None]:
    """Keep the run's heartbeat fresh while its driver works (a sweeper takes over a run
    whose heartbeat is older than RUN_HEARTBEAT_TIMEOUT_SECONDS). When a beat finds the run
    no longer running under `lease` (cancelled, finished, taken over) it sets `lost`, which
    the engine's should_stop reads: a delay, a back-off or a request in flight then stops.

    A database error does not stop it: it logs, drops the broken connection and beats
    again at the next interval, so a blip cannot get a healthy run swept."""
    stop = threading.Event()
    mine = Q(lease=lease)

    def beat() -> None:
        try:
            while not stop.wait(interval):
                try:
                    now = timezone.now()
                    if (
                        not lifecycle.touch(
                            run_id, [RunStatus.RUNNING], where=mine, heartbeat_at=now
                        )
                        and lost is not None
                    ):
                        lost.set()
                except DatabaseError:
                    logger.warning("Heartbeat of test run %s failed; retrying", run_id)
                    connection.close()
        finally:
            connection.close()

    thread = threading.Thread(target=beat, daemon=True, name=f"heartbeat-{str(run_id)[:8]}")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


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
