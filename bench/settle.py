"""Between sections: no run of one section may still be working under the next one.

Runs a section left behind (out of its time budget, or after a failure) are ended here:
queued and paused ones are cancelled with a conditional UPDATE (nobody watches them, and
the worker's recovery would otherwise re-queue a run whose job was dropped), their RQ
jobs are dropped, and the bench waits for the running ones to end by themselves.
"""

from __future__ import annotations

import time

from django.utils import timezone
from redis import Redis
from rq import Queue

from bench.stats import BenchError
from testruns.models import RunStatus, TestRun

REASON = "Cancelled by the bench: left over when its section ended."


def quiesce(redis_url: str, timeout: float = 180.0) -> int:
    """End what is left; returns how many runs were cancelled."""
    cancelled = TestRun.objects.filter(status__in=(RunStatus.QUEUED, RunStatus.PAUSED)).update(
        status=RunStatus.CANCELLED, completed_at=timezone.now(), error=REASON
    )
    connection = Redis.from_url(redis_url)
    try:
        Queue("testruns", connection=connection).empty()
    finally:
        connection.close()
    deadline = time.monotonic() + timeout
    while TestRun.objects.filter(status=RunStatus.RUNNING).exists():
        if time.monotonic() > deadline:
            raise BenchError(f"runs still running {timeout:.0f} s after their section ended")
        time.sleep(0.2)
    return cancelled
