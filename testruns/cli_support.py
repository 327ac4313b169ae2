"""What the test-case commands (`test_workflows`, `load_demo_cases`) share: Redis for the
queue, and driving a run in this process instead of a worker (`--inline`)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import django_rq
from django.conf import settings
from django.core.management.base import CommandError
from redis import RedisError

from meshhook import embedded_redis
from testruns.jobs import JOB_PREFIX, QUEUE_NAME, drive_run
from testruns.models import ACTIVE_STATUSES, TestRun

POLL_SECONDS = 0.2


def ci_source() -> str:
    """`ci` under a CI system (CI=true, as GitHub Actions, GitLab and most others set),
    else `cli`."""
    value = os.environ.get("CI", "").strip().lower()
    return TestRun.Source.CI if value in ("1", "true", "yes") else TestRun.Source.CLI


@contextmanager
def redis_available(*, start_embedded: bool) -> Iterator[None]:
    """Make sure the queue's Redis answers. With no REDIS_URL and no embedded Redis up,
    start one for the duration when `start_embedded` (an in-process run needs only a
    Redis, not a worker); otherwise say why nothing can run."""
    process: subprocess.Popen[bytes] | None = None
    socket = settings.EMBEDDED_REDIS_SOCKET
    if settings.EMBEDDED_REDIS and not embedded_redis.is_up(socket):
        if not start_embedded:
            raise CommandError(
                f"No worker can be running: the embedded Redis ({socket}) is not up. Start "
                "`make run` (or `make worker`) first, or run in this process with --inline."
            )
        process = embedded_redis.start(socket)
    else:
        try:
            django_rq.get_connection(QUEUE_NAME).ping()
        except RedisError as exc:
            raise CommandError(f"Redis at {settings.REDIS_URL} does not answer: {exc}") from None
    try:
        yield
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=10)


def drive_inline(run: TestRun, *, timeout: float) -> TestRun:
    """Drive `run` in this process. Its job is taken off the queue first; if a worker got
    it anyway, the driver lock makes this call a no-op and we wait for that worker."""
    queue = django_rq.get_queue(QUEUE_NAME)
    prefix = f"{JOB_PREFIX}{run.id}"
    for job_id in queue.get_job_ids():
        if job_id.startswith(prefix):
            queue.remove(job_id)
    drive_run(str(run.id))
    return wait_for_end(run, timeout=timeout)


def wait_for_end(run: TestRun, *, timeout: float) -> TestRun:
    deadline = time.monotonic() + timeout
    run.refresh_from_db()
    while run.status in ACTIVE_STATUSES and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        run.refresh_from_db()
    return run
