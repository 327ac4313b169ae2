"""Appending to a run's event log and telling live viewers about it.

The database is written first; the broadcast only says "events up to seq N exist", and
each socket reads what it has not sent yet from the database. That is what makes the
live view equal the stored log: a lost or late broadcast costs latency, never lines.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from testruns.models import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    EventLevel,
    EventType,
    RunEvent,
    TestRun,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewEvent:
    type: EventType
    message: str
    node_id: str = ""
    level: EventLevel = "info"
    data: dict[str, Any] = field(default_factory=dict)
    iteration: int | None = None


def run_group(run_id: uuid.UUID | str) -> str:
    return f"testrun.{run_id}"


def project_group(project_id: int) -> str:
    return f"project.{project_id}.runs"


def append_events(
    run_id: uuid.UUID | str, events: list[NewEvent], *, closing: bool = False
) -> list[RunEvent]:
    """Give the events the run's next sequence numbers and store them (one transaction).

    Nothing is written once the run has finished, so no event can land after
    `run_finished` (a cancel may have won the race against a worker): the run must be
    active, except for the closing `run_finished` that `lifecycle.end_run` writes after
    setting the final status. Returns the stored rows; [] if the run had moved on.
    """
    if not events:
        return []
    with transaction.atomic():
        # The UPDATE takes the run's row lock, so concurrent writers (worker, cancel)
        # get disjoint, dense ranges, and checks the status under that same lock.
        states = TERMINAL_STATUSES if closing else ACTIVE_STATUSES
        runs = TestRun.objects.filter(pk=run_id, status__in=states)
        if not runs.update(last_seq=F("last_seq") + len(events)):
            return []
        last = TestRun.objects.values_list("last_seq", flat=True).get(pk=run_id)
        first = last - len(events) + 1
        now = timezone.now()
        rows = [
            RunEvent(
                run_id=run_id,
                seq=first + offset,
                ts=now,
                type=event.type,
                node_id=event.node_id,
                iteration=event.iteration,
                level=event.level,
                message=event.message,
                data=event.data,
            )
            for offset, event in enumerate(events)
        ]
        RunEvent.objects.bulk_create(rows)
        publish_on_commit(run_id)
    return rows


def publish_on_commit(run_id: uuid.UUID | str) -> None:
    transaction.on_commit(lambda: publish(run_id))


def publish(run_id: uuid.UUID | str) -> None:
    """Wake every socket watching this run, and the history pages of its project."""
    layer = get_channel_layer()
    if layer is None:
        return
    run = TestRun.objects.filter(pk=run_id).values("last_seq", "project_id", "status").first()
    if run is None:
        return
    try:
        async_to_sync(layer.group_send)(
            run_group(run_id), {"type": "run.changed", "last_seq": run["last_seq"]}
        )
        async_to_sync(layer.group_send)(
            project_group(run["project_id"]),
            {"type": "run.changed", "run_id": str(run_id), "last_seq": run["last_seq"]},
        )
    except Exception:  # a broadcast failure must never fail the run; viewers catch up
        logger.exception("Could not broadcast run %s", run_id)
