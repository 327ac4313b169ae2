"""An RQ worker for test runs, plus the sweeper that takes over runs of lost workers.

It uses RQ's non-forking SimpleWorker: forking per job costs several ms and throws away
the database connection each time. Jobs close stale connections themselves (see jobs.py).

It survives outages: when Redis goes away RQ's work loop ends, and this command starts it
again with back-off instead of exiting (which would strand every later run). Asked to stop
(SIGTERM, Ctrl-C) it lets the current step finish, hands its run back to the queue for
another worker and exits; a second signal stops it at once (the run is handed back too).
"""

from __future__ import annotations

import logging
import time
from types import FrameType
from typing import Any

import django_rq
from django.conf import settings
from django.core.management.base import BaseCommand
from rq.worker import SimpleWorker

from testruns.driver import shutdown_requested
from testruns.jobs import QUEUE_NAME
from testruns.sweep import start_sweeper

logger = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 10.0


class TestRunWorker(SimpleWorker):
    """Tells running drivers to hand their runs back when a stop is requested."""

    __test__ = False

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        shutdown_requested.set()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]


class Command(BaseCommand):
    help = "Run a test-run worker (queues: testruns, default) with the stale-run sweeper."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--burst", action="store_true", help="Exit when the queues are empty.")
        parser.add_argument("--sweep-interval", type=float, default=settings.RUN_SWEEP_SECONDS)

    def handle(self, *args: Any, burst: bool, sweep_interval: float, **options: Any) -> None:
        stop_sweeping = start_sweeper(sweep_interval)
        backoff = FIRST_BACKOFF_SECONDS
        try:
            while not shutdown_requested.is_set():
                started = time.monotonic()
                try:
                    queues = [django_rq.get_queue(QUEUE_NAME), django_rq.get_queue("default")]
                    worker = TestRunWorker(queues, connection=queues[0].connection)
                    worker.work(burst=burst, with_scheduler=False)
                except Exception:
                    logger.warning("The worker loop stopped; starting it again", exc_info=True)
                if burst or shutdown_requested.is_set():
                    break
                if time.monotonic() - started > 60:
                    backoff = FIRST_BACKOFF_SECONDS  # it had been working: no penalty
                shutdown_requested.wait(backoff)
                backoff = min(MAX_BACKOFF_SECONDS, backoff * 2)
        finally:
            stop_sweeping.set()
