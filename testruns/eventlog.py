"""Appending to a run's event log and telling live viewers about it.

The database is written first; the broadcast only says "events up to seq N exist", and
each socket reads what it has not sent yet from the database. That is what makes the
live view equal the stored log: a lost or late broadcast costs latency, never lines.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from testruns.broadcast import broadcaster
from testruns.models import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    EventLevel,
    EventType,
    RunEvent,
    TestRun,
)
from testruns.rawrows import insert_rows


@dataclass(frozen=True)
class NewEvent:
    type: EventType
    message: str
    node_id: str = ""
    level: EventLevel = "info"
    data: dict[str, Any] = field(default_factory=dict)
    iteration: int | None = None


def append_events(run_id: uuid.UUID | str, events: list[NewEvent], *, closing: bool = False) -> int:
    """Give the events the run's next sequence numbers and store them (one transaction).

    Nothing is written once the run has finished, so no event can land after
    `run_finished` (a cancel may have won the race against a worker): the run must be
    active, except for the closing `run_finished` that `lifecycle.end_run` writes after
    setting the final status. Returns how many were stored: 0 if the run had moved on.
    """
    if not events:
        return 0
    # No savepoint when nested (two round trips saved): an error rolls back the caller's
    # whole transaction, which is what every caller wants anyway.
    with transaction.atomic(savepoint=False):
        # The UPDATE takes the run's row lock, so concurrent writers (worker, cancel)
        # get disjoint, dense ranges, and checks the status under that same lock.
        states = TERMINAL_STATUSES if closing else ACTIVE_STATUSES
        runs = TestRun.objects.filter(pk=run_id, status__in=states)
        if not runs.update(last_seq=F("last_seq") + len(events)):
            return 0
        return store_reserved(run_id, events)


EVENT_FIELDS = ("run", "seq", "ts", "type", "node_id", "iteration", "level", "message", "data")


def store_reserved(
    run_id: uuid.UUID | str,
    events: list[NewEvent],
    *,
    last_seq: int | None = None,
    project_id: int | None = None,
) -> int:
    """Store `events` as the last `len(events)` seqs of the run, which the caller has just
    reserved by raising `last_seq` in this transaction (under the run's row lock, so the
    range is its own), and wake the viewers once that commits. A caller that read the
    run's new `last_seq` and `project_id` in that transaction passes them. Returns how many
    were stored."""
    if last_seq is None or project_id is None:
        last_seq, project_id = TestRun.objects.values_list("last_seq", "project_id").get(pk=run_id)
    first, now = last_seq - len(events) + 1, timezone.now()
    rows = [
        (run_id, first + offset, now, event.type, event.node_id, event.iteration, event.level,
         event.message, event.data)
        for offset, event in enumerate(events)
    ]  # fmt: skip
    insert_rows(RunEvent, EVENT_FIELDS, rows)
    notify_on_commit(run_id, last_seq, project_id)
    return len(rows)


def notify_on_commit(run_id: uuid.UUID | str, last_seq: int, project_id: int) -> None:
    """Wake the run's viewers (and its project's history pages) once the events are
    committed: never before, so a viewer woken by it always finds them."""
    transaction.on_commit(lambda: broadcaster.notify(run_id, last_seq, project_id))
