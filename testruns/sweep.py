"""Housekeeping RQ cannot do for us.

RQ notices a worker that died with its job only after minutes; a running run whose
heartbeat is older than RUN_HEARTBEAT_TIMEOUT_SECONDS is marked `error`, unless its job is
still waiting in the queue (one busy worker is not a lost one). A queued run whose job is
no longer in the queue (Redis lost it) is marked `error` too. A paused run left alone for
PAUSED_RUN_TTL_SECONDS is cancelled so it does not linger forever.
"""

from __future__ import annotations

from datetime import timedelta

import django_rq
from django.conf import settings
from django.utils import timezone

from testruns.models import RunStatus, TestRun
from testruns.runstore import finish_with_error
from testruns.services import JOB_PREFIX, QUEUE_NAME, RunStateError, cancel_run


def runs_waiting_in_queue() -> set[str]:
    """Ids of runs that have a job in the queue, from the job ids enqueue_drive gives."""
    job_ids = django_rq.get_queue(QUEUE_NAME).get_job_ids()
    return {job_id[len(JOB_PREFIX) :][:36] for job_id in job_ids if job_id.startswith(JOB_PREFIX)}


def sweep_stale_runs() -> dict[str, int]:
    now = timezone.now()
    lost_before = now - timedelta(seconds=settings.RUN_HEARTBEAT_TIMEOUT_SECONDS)
    waiting = runs_waiting_in_queue()
    lost_count = 0
    stale = TestRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=lost_before)
    for run_id in stale.values_list("id", flat=True):
        if str(run_id) in waiting:
            continue
        # Conditional on the heartbeat still being stale: the worker may just have beaten.
        lost_count += finish_with_error(
            run_id,
            "The worker running this test run stopped responding "
            f"(no heartbeat for {settings.RUN_HEARTBEAT_TIMEOUT_SECONDS} s).",
            heartbeat_before=lost_before,
        )
    orphaned = TestRun.objects.filter(status=RunStatus.QUEUED, created_at__lt=lost_before)
    for run_id in orphaned.values_list("id", flat=True):
        if str(run_id) not in waiting:
            lost_count += finish_with_error(run_id, "The run's job was lost before it started.")
    expired_before = now - timedelta(seconds=settings.PAUSED_RUN_TTL_SECONDS)
    expired_count = 0
    for run in TestRun.objects.filter(status=RunStatus.PAUSED, heartbeat_at__lt=expired_before):
        try:
            cancel_run(run, reason="Paused for too long; cancelled automatically.")
            expired_count += 1
        except RunStateError:
            pass  # resumed or cancelled meanwhile
    return {"lost": lost_count, "expired": expired_count}
