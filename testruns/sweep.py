"""Housekeeping RQ cannot do for us: runs whose worker is gone are taken over.

RQ notices a worker that died with its job only after minutes. Here a running run whose
heartbeat (written every 1.5 s while it is driven) is older than
RUN_HEARTBEAT_TIMEOUT_SECONDS, and whose job is not waiting in the queue, is resumed: a
conditional update raises its lease (the lost driver, if it was only frozen, can no longer
write), frees the lost driver's lock and queues the run again; the new driver runs the
step that was in flight again and goes on from there. After RUN_MAX_RESUMES takeovers the
run ends `error` instead. A queued run whose job was lost is queued again the same way.
A paused run left alone for PAUSED_RUN_TTL_SECONDS is cancelled.

Every sweeper (one per worker, plus the web process) may run this at once: each takeover is
a conditional update, so exactly one of them wins it.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from testruns import lifecycle, retention
from testruns.eventlog import NewEvent, append_events
from testruns.jobs import enqueue_drive, release_driver_lock, run_ids_in_queue
from testruns.models import RunStatus, StepStatus, TestRun
from testruns.services import RunStateError, cancel_run

logger = logging.getLogger(__name__)


def start_sweeper(interval: float) -> threading.Event:
    """Sweep every `interval` seconds in a daemon thread until the returned event is set
    (each worker runs one, and so does the web process: see TestRunsConfig.ready)."""
    stop = threading.Event()

    def sweep_forever() -> None:
        while not stop.wait(interval):
            try:
                swept = sweep_stale_runs()
                if any(swept.values()):
                    logger.warning("Swept test runs: %s", swept)
            except Exception:  # Redis or the database away: sweep again next time
                logger.warning("Sweeping test runs failed", exc_info=True)
            finally:
                close_old_connections()
            # Once a day per deployment, in a thread of its own (it never raises).
            retention.purge_when_due()

    threading.Thread(target=sweep_forever, daemon=True, name="sweeper").start()
    return stop


def sweep_stale_runs() -> dict[str, int]:
    now = timezone.now()
    lost_before = now - timedelta(seconds=settings.RUN_HEARTBEAT_TIMEOUT_SECONDS)
    waiting = run_ids_in_queue()
    swept = {"resumed": 0, "lost": 0, "expired": 0}
    stale = TestRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=lost_before)
    for run_id, resumes in stale.values_list("id", "resumes"):
        if str(run_id) not in waiting:
            still_stale = Q(heartbeat_at__lt=lost_before)
            outcome = _take_over(run_id, resumes, RunStatus.RUNNING, still_stale)
            swept[outcome] = swept.get(outcome, 0) + 1
    orphaned = TestRun.objects.filter(status=RunStatus.QUEUED, created_at__lt=lost_before)
    for run_id, resumes in orphaned.values_list("id", "resumes"):
        if str(run_id) not in waiting:
            still_stale = Q(created_at__lt=lost_before)
            outcome = _take_over(run_id, resumes, RunStatus.QUEUED, still_stale)
            swept[outcome] = swept.get(outcome, 0) + 1
    expired_before = now - timedelta(seconds=settings.PAUSED_RUN_TTL_SECONDS)
    for run in TestRun.objects.filter(status=RunStatus.PAUSED, heartbeat_at__lt=expired_before):
        try:
            cancel_run(run, reason="Paused for too long; cancelled automatically.")
            swept["expired"] += 1
        except RunStateError:
            pass  # resumed or cancelled meanwhile
    swept.pop("none", None)
    return swept


def _take_over(run_id: uuid.UUID, resumes: int, status: str, still_stale: Q) -> str:
    """Queue a run whose worker (or job) is gone again, or end it once it has been taken
    over RUN_MAX_RESUMES times. "resumed", "lost" or "none" (someone else got there)."""
    in_flight = (
        TestRun.objects.get(pk=run_id)
        .steps.filter(status=StepStatus.RUNNING)
        .values_list("node_id", flat=True)
        .first()
    )
    where = f"step '{in_flight}'" if in_flight else "between steps"
    if status == RunStatus.QUEUED:
        lost = "The run's job was lost before it started"
    else:
        lost = f"The worker running this test run was lost while running {where}"
    if resumes >= settings.RUN_MAX_RESUMES:
        message = f"{lost} (taken over {resumes} times already)."
        ended = lifecycle.end_run(run_id, "error", message, from_states=[status], where=still_stale)
        return "lost" if ended else "none"
    with transaction.atomic():
        if not lifecycle.touch(
            run_id,
            [status],
            where=still_stale,
            heartbeat_at=timezone.now(),
            lease=F("lease") + 1,
            resumes=F("resumes") + 1,
        ):
            return "none"
        attempt = f"{resumes + 1} of {settings.RUN_MAX_RESUMES}"
        message = f"{lost}; resuming on another worker ({attempt})."
        append_events(run_id, [NewEvent("log", message, level="warning")])
        release_driver_lock(run_id)
        enqueue_drive(run_id)
    return "resumed"
