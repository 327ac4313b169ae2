"""3. Whole test runs through the real queue and a burst worker: non-forking vs forking.

A run is started with `start_test_run` (one transaction, the job enqueued on commit) and
driven by `testruns.jobs.drive_run` in an RQ worker, exactly as in production; only the
queue name is the bench's own (see harness.BENCH_QUEUE).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import django_rq
from django.db import connection, connections
from rq import Queue
from rq.worker import BaseWorker, SimpleWorker, Worker

from bench.data import Fixture
from bench.harness import BENCH_QUEUE
from bench.stats import Table, check, median, repeat_ms
from testruns import services
from testruns.models import RunStatus, TestRun
from testruns.services import start_test_run

RUNS = 30


@dataclass(frozen=True)
class WorkerFigures:
    latency_ms: list[float]  # start → finished, one run at a time
    drain_ms_per_run: float  # N queued runs drained by one burst worker
    runs_per_s: float
    run_ids: list[str]


def noop() -> None:
    """A job that does nothing: what is left is the queue's and the worker's own cost."""


class LongLivedWorker:
    """One RQ worker kept up across jobs, running its own loop body one job at a time.

    `work(burst=True)` per run would also pay for registering the worker, cleaning the
    registries and stopping its pub/sub thread (a `join(timeout=1)` that often waits the
    full second): costs a real worker pays once at start-up, not per job.
    """

    def __init__(self, worker_class: type[BaseWorker], queue: Queue) -> None:
        self.forks = worker_class is Worker
        self.worker = worker_class([queue], connection=queue.connection)
        # WARNING: RQ would otherwise log two INFO lines per job into the table.
        self.worker.bootstrap(logging_level="WARNING")

    def drain(self) -> int:
        if self.forks:
            # A forking worker's parent never holds a database connection: a socket
            # shared with the child would be used by two processes. Each child opens its own.
            connections.close_all()
        done = 0
        while (found := self.worker.dequeue_job_and_maintain_ttl(None)) is not None:
            job, job_queue = found
            self.worker.execute_job(job, job_queue)
            self.worker.heartbeat()
            done += 1
        return done

    def close(self) -> None:
        self.worker.teardown()


def bench_workers(table: Table, fixture: Fixture) -> str:
    """Runs both worker kinds; returns the id of one finished run, for the live view."""
    # start_test_run enqueues on services.QUEUE_NAME: point it at the bench's private
    # queue so nothing else on a shared Redis can take (or empty away) these jobs.
    services.QUEUE_NAME = BENCH_QUEUE
    queue = django_rq.get_queue(BENCH_QUEUE)
    queue.empty()
    steps = len(fixture.workflow.current_version().definition["nodes"])
    table.section(
        f"3. Whole test runs: {steps}-step transform workflow, start_test_run → RQ → "
        f"drive_run, N={RUNS} per figure"
    )
    start_ms = repeat_ms(lambda: start_test_run(fixture.workflow, fixture.params(), user=None), 20)
    table.timing("start_test_run (create rows + enqueue on commit)", start_ms)
    queue.empty()  # those runs were only for timing the start

    figures: dict[str, WorkerFigures] = {}
    noop_ms: dict[str, float] = {}
    for name, worker_class in (("no fork", SimpleWorker), ("fork", Worker)):
        worker = LongLivedWorker(worker_class, queue)
        try:
            noop_ms[name] = table.timing(
                f"RQ no-op job, {worker_class.__name__} ({name})",
                repeat_ms(lambda w=worker: run_noop(w, queue), RUNS),
                "ms/job",
            )
            figures[name] = measure(worker, fixture)
        finally:
            worker.close()
    table.ratio("no-op job, fork / no fork", noop_ms["fork"], noop_ms["no fork"], "ms/job")
    for name, result in figures.items():
        table.timing(f"{name}: start → finished, per run", result.latency_ms, "ms/run")
        table.value(
            f"{name}: drain {RUNS} queued runs",
            result.drain_ms_per_run,
            "ms/run",
            f"{result.runs_per_s:.1f} runs/s",
        )
    simple, forking = figures["no fork"], figures["fork"]
    table.ratio(
        "per-run latency, fork / no fork",
        median(forking.latency_ms),
        median(simple.latency_ms),
        "median start → finished",
    )
    table.ratio("throughput, no fork / fork", simple.runs_per_s, forking.runs_per_s, "runs/s")
    return simple.run_ids[-1]


def run_noop(worker: LongLivedWorker, queue: Queue) -> None:
    queue.enqueue(noop, result_ttl=0)
    check(worker.drain() == 1, "the no-op job did not run")


def measure(worker: LongLivedWorker, fixture: Fixture) -> WorkerFigures:
    latency: list[float] = []
    made: list[str] = []
    for _ in range(RUNS):
        # The web process that starts a run already holds a connection; do not charge
        # the connect to the run.
        connection.ensure_connection()
        started = time.perf_counter()
        run = start_test_run(fixture.workflow, fixture.params(), user=None)
        check(worker.drain() == 1, "the run's job did not run")
        latency.append((time.perf_counter() - started) * 1000)
        made.append(str(run.pk))

    queued = [start_test_run(fixture.workflow, fixture.params(), user=None) for _ in range(RUNS)]
    made.extend(str(run.pk) for run in queued)
    started = time.perf_counter()
    check(worker.drain() == RUNS, "not every queued run was driven")
    elapsed = time.perf_counter() - started

    finished = TestRun.objects.filter(pk__in=made, status=RunStatus.PASSED).count()
    # A run that failed or never ran would make every figure above meaningless.
    check(finished == len(made), f"only {finished}/{len(made)} runs passed")
    return WorkerFigures(latency, elapsed * 1000 / RUNS, RUNS / elapsed, made)
