"""5. Throughput of 5-step runs, 7. worker memory after many runs.

Runs are POSTed by N concurrent API clients as fast as the API takes them; the figure is
runs / (last run's completed_at − first POST), so it is what the whole system (web,
queue, workers, database) sustains, not the workers alone. "All finished" is seen
through the API (no queued or running run of the workflow left).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from django.db.models import Max

from bench.client import Api
from bench.config import TARGETS
from bench.context import FIVE, FIVE_RSS, Context
from bench.definitions import PAYLOAD
from bench.stats import BenchError, check
from testruns.models import RunStatus, TestRun

THROUGHPUT = "5. Throughput"
MEMORY = "7. Worker memory"
POLL_SECONDS = 0.05
# Generous: the figure is the truth however slow, but a stuck run must not hang the bench.
MIN_RUNS_PER_S = 2.0


@dataclass
class Batch:
    ids: list[str] = field(default_factory=list)
    post_ms: list[float] = field(default_factory=list)
    started_wall: float = 0.0


async def post_runs(api: Api, slug: str, total: int, clients: int, batch: Batch) -> None:
    remaining = iter(range(total))

    async def client() -> None:
        for _ in remaining:
            started = time.perf_counter()
            batch.ids.append(await api.start_run(slug, PAYLOAD))
            batch.post_ms.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(client() for _ in range(clients)))


async def wait_all_finished(api: Api, slug: str, total: int) -> None:
    deadline = time.monotonic() + 60 + total / MIN_RUNS_PER_S
    while time.monotonic() < deadline:
        page = await api.call(
            "GET", "/api/test-runs", workflow=slug, status="queued,running,paused", limit=1
        )
        if not page["results"]:
            return
        await asyncio.sleep(POLL_SECONDS)
    raise BenchError(f"runs of {slug} still active after {deadline:.0f} s")


async def run_batch(ctx: Context, slug: str, total: int) -> Batch:
    api = ctx.api()
    batch = Batch(started_wall=time.time())
    try:
        await post_runs(api, slug, total, ctx.sizes.throughput_clients, batch)
        await wait_all_finished(api, slug, total)
    finally:
        await api.close()
    return batch


def finished_at(batch: Batch) -> float:
    """Wall time the last run of the batch completed; all of them must have passed."""
    runs = TestRun.objects.filter(pk__in=batch.ids)
    passed = runs.filter(status=RunStatus.PASSED).count()
    check(passed == len(batch.ids), f"only {passed} of {len(batch.ids)} runs passed")
    last = runs.aggregate(last=Max("completed_at"))["last"]
    check(last is not None, "no completed_at on the runs")
    return float(last.timestamp())


def bench_throughput(ctx: Context) -> None:
    sizes = ctx.sizes
    asyncio.run(run_batch(ctx, FIVE, ctx.workers * 2))  # untimed warm-up
    batch = asyncio.run(run_batch(ctx, FIVE, sizes.throughput_runs))
    seconds = finished_at(batch) - batch.started_wall
    workers = ctx.workers
    ctx.table.value(
        THROUGHPUT, f"5-step runs, {workers} workers, {sizes.throughput_clients} API clients",
        len(batch.ids) / seconds, "runs/s", n=len(batch.ids),
        target=TARGETS["runs_per_s"] if workers == 2 else None,
        note="first POST → last run completed" + ("" if workers == 2 else
                                                 "; the target is for 2 workers"),
    )  # fmt: skip
    ctx.table.timing(THROUGHPUT, "  POST /api/test-runs under that load", batch.post_ms, "ms")


def bench_memory(ctx: Context) -> None:
    """Fresh workers; RSS once `rss_first` runs are done, and again after `rss_then`."""
    sizes = ctx.sizes
    stack = ctx.stack
    stack.stop_workers()
    stack.start_workers(ctx.workers)
    first = asyncio.run(run_batch(ctx, FIVE_RSS, sizes.rss_first))
    finished_at(first)
    early = [worker.rss_kib() for worker in stack.workers]
    rest = asyncio.run(run_batch(ctx, FIVE_RSS, sizes.rss_then - sizes.rss_first))
    finished_at(rest)
    late = [worker.rss_kib() for worker in stack.workers]
    growth = max((b / a - 1) * 100 for a, b in zip(early, late, strict=True))
    table = ctx.table
    per = f"mean of {len(early)} workers (VmRSS)"
    table.value(MEMORY, f"worker RSS after {sizes.rss_first:,} runs", mean_mib(early), "MiB",
                note=per)  # fmt: skip
    table.value(MEMORY, f"worker RSS after {sizes.rss_then:,} runs", mean_mib(late), "MiB")
    table.value(
        MEMORY, f"  growth {sizes.rss_first:,} → {sizes.rss_then:,} runs", growth, "%",
        target=TARGETS["rss_growth"], note="the worker that grew most",
    )  # fmt: skip


def mean_mib(kib: list[int]) -> float:
    return sum(kib) / len(kib) / 1024
