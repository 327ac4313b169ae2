"""Writing what a drive did: step rows, skips and events, in group commits.

A transform takes microseconds; committing its row and events and waking the viewers took
milliseconds. So consecutive fast steps of one run are buffered and written together, in
one transaction with one broadcast, at the latest every FLUSH_SECONDS or FLUSH_ROWS rows.
A step with effects outside the run (HTTP calls, honoured delays, loops) flushes first and
is marked `running` before it starts, so what the page shows never hides a request that was
sent. Every flush is conditional on the run still running: after a cancel nothing of the
batch is written, and nothing that was not committed was ever broadcast.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from meshhook.engine import StepOutcome, Workflow
from testruns import lifecycle
from testruns.eventlog import NewEvent, store_reserved
from testruns.models import RunStatus, StepRun, StepStatus
from testruns.rawrows import insert_new, update_rows
from testruns.runstore import jsonable, stored_output

FLUSH_SECONDS = 0.010
FLUSH_ROWS = 50
ITERATION_BATCH = 2_000
STEP_FIELDS = (
    "status",
    "input",
    "output",
    "error",
    "attempts",
    "mocked",
    "duration_ms",
    "resolved_config",
    "http",
    "branch",
    "started_at",
    "completed_at",
    "position",
    "input_overridden",
)


@dataclass
class StepWriter:
    run_id: uuid.UUID
    workflow: Workflow
    input_overrides: dict[str, Any]
    # The lease the driver claimed: every write is conditional on it (see lifecycle.claim).
    lease: int = 0
    # The step-mode counters the driver keeps while it drives; written with each flush.
    steps_to_run: int | None = None
    release_node: str = ""
    _row_ids: dict[str, int] = field(default_factory=dict)
    # The status of each per-node row (top level and loop bodies before they iterate): a
    # drive is the only writer of its run's steps until the run ends, so the summary
    # counts move with what it writes instead of being recounted.
    _status: dict[str, str] = field(default_factory=dict)
    _body: dict[str, list[str]] = field(default_factory=dict)  # loop id → body node ids
    _counts: Counter[str] = field(default_factory=Counter)
    _rows: list[tuple[Any, ...]] = field(default_factory=list)  # (pk, *STEP_FIELDS)
    _iterations: list[tuple[str, StepOutcome, int]] = field(default_factory=list)
    _skipped: list[tuple[str, ...]] = field(default_factory=list)
    _events: list[NewEvent] = field(default_factory=list)
    _since: float | None = None

    _position: int = 0

    def __post_init__(self) -> None:
        per_node = StepRun.objects.filter(run_id=self.run_id, iteration__isnull=True)
        for pk, node_id, status, parent in per_node.values_list(
            "id", "node_id", "status", "parent_node_id"
        ):
            self._row_ids[node_id] = pk
            self._status[node_id] = status
            if parent:
                self._body.setdefault(parent, []).append(node_id)
        self._position = per_node.aggregate(top=Max("position"))["top"] or 0

    def _move(self, node_id: str, status: str) -> None:
        old = self._status.get(node_id)
        if old is not None:
            self._counts[old] -= 1
        self._counts[status] += 1
        self._status[node_id] = status

    # -- buffering ----------------------------------------------------------------------
    def next_position(self) -> int:
        self._position += 1
        return self._position

    def add_events(self, events: list[NewEvent]) -> None:
        self._mark()
        self._events.extend(events)

    def add_skipped(self, node_ids: tuple[str, ...], *, run_ended: bool) -> None:
        why = "the run ended before it" if run_ended else "no taken edge leads to it"
        self.add_events(
            [
                NewEvent(
                    "step_skipped", f"Skipped '{node_id}': {why}.", node_id=node_id, level="debug"
                )
                for node_id in node_ids
            ]
        )
        self._skipped.append(node_ids)
        for node_id in node_ids:
            body = self._body.get(node_id, [])
            for row in (node_id, *body):  # a skipped loop's body is skipped with it
                if self._status.get(row) == StepStatus.PENDING:
                    self._move(row, StepStatus.SKIPPED)

    def add_outcome(
        self, outcome: StepOutcome, *, position: int, started: datetime, finished: datetime
    ) -> None:
        node_id = outcome.node_id
        node = self.workflow.node(node_id)
        self._mark()
        # Plain values in STEP_FIELDS order, not a StepRun: building a model instance per
        # step cost more than the step.
        self._rows.append(
            (
                self._row_ids[node_id],
                outcome.status,
                jsonable(outcome.input),
                stored_output(node.type, outcome.output),
                outcome.error or "",
                outcome.attempts,
                outcome.mocked,
                outcome.duration_ms,
                jsonable(outcome.resolved_config),
                jsonable(list(outcome.http)),
                outcome.branch,
                started,
                finished,
                position,
                node_id in self.input_overrides,
            )
        )
        self._move(node_id, outcome.status)
        if outcome.iterations:
            self._iterations.append((node_id, outcome, position))
            for body_node in self._body.pop(node_id, []):  # replaced by the iterations
                self._counts[self._status.pop(body_node)] -= 1
                self._counts["total"] -= 1
            for item in outcome.iterations:
                self._counts[item.status] += 1
                self._counts["total"] += 1
        if self.steps_to_run is not None:
            self.steps_to_run = max(0, self.steps_to_run - 1)
        self.release_node = ""

    @property
    def settled(self) -> bool:
        """No step of the run is left pending or running (so its counts need no recount)."""
        unfinished = (StepStatus.PENDING, StepStatus.RUNNING)
        return not any(status in unfinished for status in self._status.values())

    @property
    def mine(self) -> Q:
        return Q(lease=self.lease)

    @property
    def due(self) -> bool:
        if self._since is None:
            return False
        return len(self._rows) >= FLUSH_ROWS or time.monotonic() - self._since >= FLUSH_SECONDS

    def _mark(self) -> None:
        if self._since is None:
            self._since = time.monotonic()

    # -- writing ------------------------------------------------------------------------
    def flush(self) -> bool:
        """Write everything buffered in one transaction; False (and nothing written) if the
        run is no longer running under this driver's lease. The buffer is kept until the
        commit succeeds, so after a database error the same flush can be tried again."""
        counts = self._counts
        with transaction.atomic(savepoint=False):
            if not lifecycle.touch(
                self.run_id,
                [RunStatus.RUNNING],
                where=self.mine,
                heartbeat_at=timezone.now(),
                steps_to_run=self.steps_to_run,
                release_node=self.release_node,
                last_seq=F("last_seq") + len(self._events),
                total_steps=F("total_steps") + counts["total"],
                succeeded_count=F("succeeded_count") + counts[StepStatus.SUCCEEDED],
                failed_count=F("failed_count") + counts[StepStatus.FAILED],
                skipped_count=F("skipped_count") + counts[StepStatus.SKIPPED],
            ):
                self._clear()
                return False
            for node_ids in self._skipped:
                self._skip_rows(node_ids)
            if self._rows:
                update_rows(StepRun, STEP_FIELDS, self._rows)
            for loop_id, outcome, position in self._iterations:
                self._store_iterations(loop_id, outcome, position)
            if self._events:
                store_reserved(self.run_id, self._events)
        self._clear()
        return True

    def _clear(self) -> None:
        self._rows, self._iterations, self._skipped, self._events = [], [], [], []
        self._counts, self._since = Counter(), None

    def start_step(self, node_id: str) -> tuple[int, datetime] | None:
        # (The row goes pending → running → its outcome; only the outcome is counted.)
        """Before a step with outside effects: flush, then mark it running (one commit).
        Its position and start time; None if the run is no longer running."""
        position, now = self.next_position(), timezone.now()
        with transaction.atomic(savepoint=False):
            if not self.flush():
                return None
            running = StepRun.objects.filter(pk=self._row_ids[node_id], status=StepStatus.PENDING)
            if not running.update(status=StepStatus.RUNNING, started_at=now, position=position):
                return None
        return position, now

    def _skip_rows(self, node_ids: tuple[str, ...]) -> None:
        pending = StepRun.objects.filter(run_id=self.run_id, status=StepStatus.PENDING)
        pending.filter(node_id__in=node_ids).update(status=StepStatus.SKIPPED)
        # A skipped loop's body is skipped with it.
        pending.filter(parent_node_id__in=node_ids).update(status=StepStatus.SKIPPED)

    def _store_iterations(self, loop_id: str, outcome: StepOutcome, position: int) -> None:
        body = StepRun.objects.filter(run_id=self.run_id, parent_node_id=loop_id)
        templates = {step.node_id: step for step in body.filter(iteration__isnull=True)}
        body.delete()
        now = timezone.now()
        rows = []
        for item in outcome.iterations:
            template = templates.get(item.node_id)
            rows.append(
                {
                    "run": self.run_id,
                    "node_id": item.node_id,
                    "iteration": item.iteration,
                    "parent_node_id": loop_id,
                    "node_type": template.node_type if template else "",
                    "label": template.label if template else item.node_id,
                    "definition_index": template.definition_index if template else 0,
                    "status": item.status,
                    "input": jsonable(item.input),
                    "output": jsonable(item.output),
                    "error": item.error or "",
                    "attempts": item.attempts,
                    "duration_ms": item.duration_ms,
                    "http": jsonable(list(item.http)),
                    "position": position,
                    "completed_at": now,
                }
            )
        # Plain rows, a few thousand per statement (one INSERT … UNNEST on PostgreSQL).
        for start in range(0, len(rows), ITERATION_BATCH):
            insert_new(StepRun, rows[start : start + ITERATION_BATCH])
