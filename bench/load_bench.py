"""5. Throughput of 5-step runs, 7. worker memory after many runs.

Runs are POSTed by N concurrent API clients as fast as the API takes them; the figure is
finished runs / (last run's completed_at − first POST), so it is what the whole system
(web, queue, workers, database) sustains, not the workers alone. "All finished" is seen
through the API (no queued or running run of the workflow left).

Each batch has a time budget, so a slow system cannot hang the bench: when it runs out,
the clients stop posting, the runs not started yet are cancelled (bench.settle) and the
figure covers the runs that did finish, saying so.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from django.db.models import Max

from bench.client import TERMINAL, Api
from bench.config import TARGETS
from bench.context import FIVE, FIVE_RSS, Context
from bench.definitions import PAYLOAD
from bench.settle import REASON, quiesce
from bench.stats import check
from testruns.models import RunStatus, TestRun

THROUGHPUT = "5. Throughput"
MEMORY = "7. Worker memory"
POLL_SECONDS = 0.05


@dataclass
class Batch:
    wanted: int
    ids: list[str] = field(default_factory=list)
    post_ms: list[float] = field(default_factory=list)
    started_wall: float = 0.0
    complete: bool = True
    finished: int = 0
    last_wall: float = 0.0
    failures: list[str] = field(default_factory=list)  # "status: error" of runs that failed

    @property
    def runs_per_s(self) -> float | None:
        seconds = self.last_wall - self.started_wall
        return self.finished / seconds if self.finished and seconds > 0 else None

    def label(self) -> str:
        return "" if self.complete else f" (budget hit: {self.finished:,} of {self.wanted:,})"


async def post_runs(api: Api, slug: str, batch: Batch, clients: int, deadline: float) -> None:
    remaining = iter(range(batch.wanted))

    async def client() -> None:
        for _ in remaining:
            if time.monotonic() > deadline:
                return
            started = time.perf_counter()
            batch.ids.append(await api.start_run(slug, PAYLOAD))
            batch.post_ms.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(client() for _ in range(clients)))


async def none_active(api: Api, slug: str, statuses: str, deadline: float) -> bool:
    while time.monotonic() < deadline:
        page = await api.call("GET", "/api/test-runs", workflow=slug, status=statuses, limit=1)
        if not page["results"]:
            return True
        await asyncio.sleep(POLL_SECONDS)
    return False


def run_batch(ctx: Context, slug: str, total: int, budget: float) -> Batch:
    batch = asyncio.run(post_and_wait(ctx, slug, total, budget))
    if not batch.complete:
        quiesce(ctx.services.redis_url)
    settle(batch)
    return batch


async def post_and_wait(ctx: Context, slug: str, total: int, budget: float) -> Batch:
    api = ctx.api()
    batch = Batch(wanted=total, started_wall=time.time())
    deadline = time.monotonic() + budget
    try:
        await post_runs(api, slug, batch, ctx.sizes.throughput_clients, deadline)
        batch.complete = await none_active(api, slug, "queued,running,paused", deadline)
    finally:
        await api.close()
    return batch


def settle(batch: Batch) -> None:
    """Count the finished runs and when the last one did; note any that did not pass."""
    runs = TestRun.objects.filter(pk__in=batch.ids, status__in=TERMINAL).exclude(error=REASON)
    batch.finished = runs.count()
    if batch.complete:
        check(batch.finished == batch.wanted, f"{batch.finished} of {batch.wanted} runs finished")
    failed = runs.exclude(status=RunStatus.PASSED).values_list("id", "status", "error")
    batch.failures = [f"{run_id} {status}: {error[:160]}" for run_id, status, error in failed]
    last = runs.aggregate(last=Max("completed_at"))["last"]
    batch.last_wall = last.timestamp() if last is not None else batch.started_wall


def report_failures(ctx: Context, section: str, batch: Batch) -> None:
    """Every run of these workflows should pass: one that did not is a bug the figure
    must not hide (the figure still stands, and the bench exits non-zero)."""
    if batch.failures:
        ctx.table.error(
            section,
            f"{len(batch.failures)} of {batch.finished} runs did not pass; first: "
            + batch.failures[0],
        )


def bench_throughput(ctx: Context) -> None:
    sizes = ctx.sizes
    run_batch(ctx, FIVE, ctx.workers * 2, 60)  # untimed warm-up
    batch = run_batch(ctx, FIVE, sizes.throughput_runs, sizes.load_budget_s)
    workers = ctx.workers
    ctx.table.value(
        THROUGHPUT, f"5-step runs, {workers} workers, {sizes.throughput_clients} API clients"
        + batch.label(), batch.runs_per_s, "runs/s", n=batch.finished,
        target=TARGETS["runs_per_s"] if workers == 2 else None,
        note="first POST → last run completed" + ("" if workers == 2 else
                                                 "; the target is for 2 workers"),
    )  # fmt: skip
    ctx.table.timing(THROUGHPUT, "  POST /api/test-runs under that load", batch.post_ms, "ms")
    report_failures(ctx, "5", batch)


def bench_memory(ctx: Context) -> None:
    """Fresh workers; RSS once `rss_first` runs are done, and again after `rss_then`."""
    sizes = ctx.sizes
    stack = ctx.stack
    stack.stop_workers()
    stack.start_workers(ctx.workers)
    ends = time.monotonic() + sizes.rss_budget_s
    first = run_batch(ctx, FIVE_RSS, sizes.rss_first, ends - time.monotonic())
    early = [worker.rss_kib() for worker in stack.workers]
    table = ctx.table
    per = f"mean of {len(early)} workers (VmRSS)"
    table.value(MEMORY, f"worker RSS after {first.finished:,} runs{first.label()}",
                mean_mib(early), "MiB", note=per)  # fmt: skip
    report_failures(ctx, "7", first)
    if not first.complete:
        return
    rest = run_batch(ctx, FIVE_RSS, sizes.rss_then - sizes.rss_first, ends - time.monotonic())
    late = [worker.rss_kib() for worker in stack.workers]
    done = first.finished + rest.finished
    table.value(MEMORY, f"worker RSS after {done:,} runs{rest.label()}", mean_mib(late), "MiB")
    report_failures(ctx, "7", rest)
    growth = max((b / a - 1) * 100 for a, b in zip(early, late, strict=True))
    table.value(
        MEMORY, f"  growth {first.finished:,} → {done:,} runs", growth, "%",
        target=TARGETS["rss_growth"], note="the worker that grew most",
    )  # fmt: skip


def mean_mib(kib: list[int]) -> float:
    return sum(kib) / len(kib) / 1024
