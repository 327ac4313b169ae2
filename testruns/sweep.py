"""Housekeeping RQ cannot do for us.

RQ notices a worker that died with its job only after minutes; a running run whose
heartbeat is older than RUN_HEARTBEAT_TIMEOUT_SECONDS is marked `error`, unless its job is
still waiting in the queue (one busy worker is not a lost one). A queued run whose job is
no longer in the queue (Redis lost it) is marked `error` too. A paused run left alone for
PAUSED_RUN_TTL_SECONDS is cancelled so it does not linger forever.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from testruns import lifecycle
from testruns.jobs import run_ids_in_queue
from testruns.models import RunStatus, TestRun
from testruns.services import RunStateError, cancel_run


def sweep_stale_runs() -> dict[str, int]:
    now = timezone.now()
    lost_before = now - timedelta(seconds=settings.RUN_HEARTBEAT_TIMEOUT_SECONDS)
    waiting = run_ids_in_queue()
    lost_count = 0
    stale = TestRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=lost_before)
    for run_id in stale.values_list("id", flat=True):
        if str(run_id) in waiting:
            continue
        # Conditional on the heartbeat still being stale: the worker may just have beaten.
        lost_count += lifecycle.end_run(
            run_id,
            "error",
            "The worker running this test run stopped responding "
            f"(no heartbeat for {settings.RUN_HEARTBEAT_TIMEOUT_SECONDS} s).",
            from_states=[RunStatus.RUNNING],
            where=Q(heartbeat_at__lt=lost_before),
        )
    orphaned = TestRun.objects.filter(status=RunStatus.QUEUED, created_at__lt=lost_before)
    for run_id in orphaned.values_list("id", flat=True):
        if str(run_id) not in waiting:
            message = "The run's job was lost before it started."
            lost_count += lifecycle.end_run(
                run_id, "error", message, from_states=[RunStatus.QUEUED]
            )
    expired_before = now - timedelta(seconds=settings.PAUSED_RUN_TTL_SECONDS)
    expired_count = 0
    for run in TestRun.objects.filter(status=RunStatus.PAUSED, heartbeat_at__lt=expired_before):
        try:
            cancel_run(run, reason="Paused for too long; cancelled automatically.")
            expired_count += 1
        except RunStateError:
            pass  # resumed or cancelled meanwhile
    return {"lost": lost_count, "expired": expired_count}
