"""An RQ worker for test runs, plus the sweeper that keeps run rows honest.

It uses RQ's non-forking SimpleWorker: forking per job costs several ms and throws away
the database connection each time. Jobs close stale connections themselves (see jobs.py).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import django_rq
from django.core.management.base import BaseCommand
from django.db import close_old_connections
from rq.worker import SimpleWorker

from testruns.jobs import QUEUE_NAME
from testruns.sweep import sweep_stale_runs

logger = logging.getLogger(__name__)


def sweep_forever(stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        try:
            swept = sweep_stale_runs()
            if any(swept.values()):
                logger.warning("Swept test runs: %s", swept)
        except Exception:
            logger.exception("Sweeping test runs failed")
        finally:
            close_old_connections()


class Command(BaseCommand):
    help = "Run a test-run worker (queues: testruns, default) with the stale-run sweeper."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--burst", action="store_true", help="Exit when the queues are empty.")
        parser.add_argument("--sweep-interval", type=float, default=15.0)

    def handle(self, *args: Any, burst: bool, sweep_interval: float, **options: Any) -> None:
        queues = [django_rq.get_queue(QUEUE_NAME), django_rq.get_queue("default")]
        stop = threading.Event()
        sweeper = threading.Thread(
            target=sweep_forever, args=(stop, sweep_interval), daemon=True, name="sweeper"
        )
        sweeper.start()
        try:
            worker = SimpleWorker(queues, connection=queues[0].connection)
            worker.work(burst=burst, with_scheduler=False)
        finally:
            stop.set()
