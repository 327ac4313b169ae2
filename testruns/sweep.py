"""Housekeeping RQ cannot do for us.

RQ notices a worker that died with its job only after minutes; a run whose heartbeat is
older than RUN_HEARTBEAT_TIMEOUT_SECONDS is marked `error`. A paused run left alone for
PAUSED_RUN_TTL_SECONDS is cancelled so it does not linger forever.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from testruns.models import RunStatus, TestRun
from testruns.runstore import finish_with_error
from testruns.services import RunStateError, cancel_run


def sweep_stale_runs() -> dict[str, int]:
    now = timezone.now()
    lost_before = now - timedelta(seconds=settings.RUN_HEARTBEAT_TIMEOUT_SECONDS)
    lost = TestRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=lost_before)
    lost_count = 0
    for run_id in lost.values_list("id", flat=True):
        # Conditional on the heartbeat still being stale: the worker may just have beaten.
        lost_count += finish_with_error(
            run_id,
            "The worker running this test run stopped responding "
            f"(no heartbeat for {settings.RUN_HEARTBEAT_TIMEOUT_SECONDS} s).",
            heartbeat_before=lost_before,
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
