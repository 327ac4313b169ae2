"""The RQ job of test runs and its queue: `enqueue_drive` (on commit) → `drive_run`.

The job takes a run id, never an object; the work is testruns.driver's. It writes the
database first and only then broadcasts, and the run's row is always locked before its
steps, in the same order as a cancel, so the two never deadlock.
"""

from __future__ import annotations

import logging
import uuid

import django_rq
from django.db import close_old_connections, transaction

from testruns import lifecycle
from testruns.driver import RunDriver

logger = logging.getLogger(__name__)

# The RQ queue of test runs (settings.RQ_QUEUES), kept apart from any other work.
QUEUE_NAME = "testruns"
# Job ids carry the run id, so the sweeper can tell a run waiting for a busy worker from one
# whose worker died.
JOB_PREFIX = "testrun-"
JOB_TIMEOUT_SECONDS = 3600

# One driver per run: a duplicate job (a requeue, a double click racing a pause) waits
# for the other to let go, then finds the run no longer needs it.
DRIVE_LOCK_SECONDS = 3600
DRIVE_LOCK_WAIT_SECONDS = 10


def enqueue_drive(run_id: uuid.UUID | str) -> list[str]:
    """Queue the worker job for the run once the current transaction has committed (at
    once if none is open). If that fails, the run ends `error` and the returned list gets
    the reason, so the caller can say so instead of answering "queued"."""
    failures: list[str] = []

    def enqueue() -> None:
        try:
            queue_drive(run_id)
        except Exception as exc:  # Redis down: say so on the run instead of leaving it queued
            logger.exception("Could not enqueue test run %s", run_id)
            message = f"The run could not be queued: {exc}"
            lifecycle.end_run(run_id, "error", message)
            failures.append(message)

    transaction.on_commit(enqueue)
    return failures


def queue_drive(run_id: uuid.UUID | str) -> None:
    """Put a job for the run on the queue now (raises if Redis cannot be reached)."""
    django_rq.get_queue(QUEUE_NAME).enqueue(
        drive_run,
        str(run_id),
        job_id=f"{JOB_PREFIX}{run_id}-{uuid.uuid4().hex[:12]}",
        job_timeout=JOB_TIMEOUT_SECONDS,
        result_ttl=0,
    )


def driver_lock_key(run_id: uuid.UUID | str) -> str:
    return f"meshhook:testrun:{run_id}:driver"


def release_driver_lock(run_id: uuid.UUID | str) -> None:
    """Free the lock of a driver that is gone (its worker died); it would hold for an hour."""
    django_rq.get_connection(QUEUE_NAME).delete(driver_lock_key(run_id))


def run_ids_in_queue() -> set[str]:
    """Ids of the runs that have a job waiting in the queue (from the job ids above)."""
    job_ids = django_rq.get_queue(QUEUE_NAME).get_job_ids()
    return {job_id[len(JOB_PREFIX) :][:36] for job_id in job_ids if job_id.startswith(JOB_PREFIX)}


def drive_run(run_id: str) -> None:
    close_old_connections()
    lock = django_rq.get_connection(QUEUE_NAME).lock(
        driver_lock_key(run_id), timeout=DRIVE_LOCK_SECONDS
    )
    if not lock.acquire(blocking=True, blocking_timeout=DRIVE_LOCK_WAIT_SECONDS):
        logger.warning("Test run %s is already being driven; this job does nothing.", run_id)
        return
    try:
        RunDriver(run_id, hand_back=queue_drive).drive()
    except Exception as exc:  # an engine or infrastructure bug must not strand the run
        logger.exception("Test run %s crashed", run_id)
        lifecycle.end_run(run_id, "error", f"Internal error: {type(exc).__name__}: {exc}")
    except BaseException:
        # The worker is being stopped hard (RQ's cold shutdown raises SystemExit mid-step):
        # queue the run for another worker, which runs the interrupted step again.
        logger.warning("Worker stopped while driving test run %s; handing it back", run_id)
        _hand_back_quietly(run_id)
        raise
    finally:
        try:
            lock.release()
        except Exception:  # expired or lost with Redis; the lock times out by itself
            logger.warning("Could not release the driver lock of test run %s", run_id)
        close_old_connections()


def _hand_back_quietly(run_id: str) -> None:
    try:
        queue_drive(run_id)
    except Exception:  # Redis gone too: the sweeper resumes the run once its heartbeat is stale
        logger.warning("Could not queue test run %s again", run_id, exc_info=True)
