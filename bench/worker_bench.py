"""3. Whole test runs through the real queue and worker: non-forking vs forking RQ worker.

A run is started with `start_test_run` (one transaction, the job enqueued on commit) and
driven by `testruns.jobs.drive_run` inside an RQ worker, exactly as in production; only
the queue name is the bench's own (see harness.BENCH_QUEUE).

The two workers are measured interleaved (one run on each, in alternating order), so a
neighbour process hogging the CPU for a few seconds hurts both figures alike instead of
skewing the ratio.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import django_rq
from django.db import connection, connections
from rq import Queue
from rq.worker import BaseWorker, SimpleWorker, Worker

from bench.data import Fixture
from bench.harness import BENCH_QUEUE
from bench.stats import Table, check, median
from testruns import services
from testruns.models import RunStatus, TestRun
from testruns.services import start_test_run

RUNS = 30  # per worker kind


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
        self.worker.teardown()  # type: ignore[no-untyped-call]  # rq leaves it untyped


@dataclass
class Figures:
    noop_ms: list[float] = field(default_factory=list)
    start_ms: list[float] = field(default_factory=list)  # start_test_run alone
    latency_ms: list[float] = field(default_factory=list)  # start → finished, one at a time
    run_ids: list[str] = field(default_factory=list)

    @property
    def runs_per_s(self) -> float:
        # One run at a time, start included: what a single worker sustains end to end.
        return 1000 * len(self.latency_ms) / sum(self.latency_ms)


def bench_workers(table: Table, fixture: Fixture) -> str:
    """Runs both worker kinds; returns the id of one finished run, for the live view."""
    # start_test_run enqueues on services.QUEUE_NAME: point it at the bench's private
    # queue so nothing else on a shared Redis can take (or empty away) these jobs.
    real_queue, services.QUEUE_NAME = services.QUEUE_NAME, BENCH_QUEUE
    queue = django_rq.get_queue(BENCH_QUEUE)
    steps = len(fixture.workflow.current_version().definition["nodes"])
    table.section(
        f"3. Whole test runs: {steps}-step transform workflow, start_test_run → RQ → "
        f"drive_run; N={RUNS} per figure"
    )
    workers: dict[str, LongLivedWorker] = {}
    figures = {name: Figures() for name in ("no fork", "fork")}
    try:
        workers["no fork"] = LongLivedWorker(SimpleWorker, queue)
        workers["fork"] = LongLivedWorker(Worker, queue)
        for worker in workers.values():  # untimed: first fork, first imports
            one_run(worker, fixture, Figures())
            one_noop(worker, queue, Figures())
        for index in range(RUNS):
            for name in order(list(workers), index):
                one_noop(workers[name], queue, figures[name])
                one_run(workers[name], fixture, figures[name])
    finally:
        for worker in workers.values():
            worker.close()
        # Leave nothing behind on a shared Redis, not even the queue's name.
        queue.delete(delete_jobs=True)
        services.QUEUE_NAME = real_queue
    report(table, figures["no fork"], figures["fork"])
    table.note(
        "Runs: a private RQ queue; each worker stays up across jobs and the two kinds take "
        "turns, so the start-up cost of a burst worker and CPU hogged by neighbours are "
        "not charged to one side."
    )
    return figures["no fork"].run_ids[-1]


def order(names: list[str], index: int) -> list[str]:
    return names if index % 2 == 0 else names[::-1]


def one_noop(worker: LongLivedWorker, queue: Queue, figures: Figures) -> None:
    started = time.perf_counter()
    queue.enqueue(noop, result_ttl=0)
    check(worker.drain() == 1, "the no-op job did not run")
    figures.noop_ms.append((time.perf_counter() - started) * 1000)


def one_run(worker: LongLivedWorker, fixture: Fixture, figures: Figures) -> None:
    # The web process that starts a run already holds a connection: not the run's cost.
    connection.ensure_connection()
    started = time.perf_counter()
    run = start_test_run(fixture.workflow, fixture.params(), user=None)
    figures.start_ms.append((time.perf_counter() - started) * 1000)
    check(worker.drain() == 1, "the run's job did not run")
    figures.latency_ms.append((time.perf_counter() - started) * 1000)
    figures.run_ids.append(str(run.pk))
    check_passed([str(run.pk)])


def check_passed(run_ids: list[str]) -> None:
    # A run that failed or never ran would make every figure about it meaningless.
    passed = TestRun.objects.filter(pk__in=run_ids, status=RunStatus.PASSED).count()
    check(passed == len(run_ids), f"only {passed} of {len(run_ids)} runs passed")


def report(table: Table, simple: Figures, forking: Figures) -> None:
    table.timing("start_test_run (rows + enqueue on commit)", simple.start_ms + forking.start_ms)
    for name, figures in (("SimpleWorker, no fork", simple), ("Worker, fork per job", forking)):
        table.timing(f"RQ no-op job: {name}", figures.noop_ms, "ms/job", "enqueue → done")
    table.ratio(
        "no-op job, fork / no fork",
        median(forking.noop_ms),
        median(simple.noop_ms),
        f"fork costs {median(forking.noop_ms) - median(simple.noop_ms):.1f} ms/job "
        "(DESIGN §5: ~6–9)",
    )
    for name, figures in (("SimpleWorker, no fork", simple), ("Worker, fork per job", forking)):
        table.timing(
            f"run start → finished: {name}",
            figures.latency_ms,
            "ms/run",
            f"{figures.runs_per_s:.2f} runs/s one at a time",
        )
    table.ratio(
        "run start → finished, fork / no fork",
        median(forking.latency_ms),
        median(simple.latency_ms),
        f"medians; runs/s ratio {simple.runs_per_s / forking.runs_per_s:.2f}×",
    )
