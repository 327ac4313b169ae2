"""2. End to end per step, beside RQ alone chaining as many plain jobs.

A run is POSTed to the API and watched on its socket until `run_finished` arrives; the
wall time from the POST to that frame, over the run's steps, is what a user waits per
step. The peer is a chain of plain RQ jobs on the same Redis, each enqueueing the next.
"""

from __future__ import annotations

import asyncio
import time

from bench.client import Api, check_log
from bench.config import TARGETS
from bench.context import CHAIN, CHAIN_LONG, Context
from bench.definitions import PAYLOAD
from bench.rqchain import CHAIN_QUEUE, chain_ms
from bench.stats import check, median

SECTION = "2. End to end per step"
RUN_TIMEOUT = 300.0


async def timed_run(api: Api, slug: str, steps: int) -> float:
    """ms per step from POST to the `run_finished` frame on a socket opened right after."""
    started = time.perf_counter()
    run_id = await api.start_run(slug, PAYLOAD)
    view = await api.socket(run_id)
    try:
        await view.resume(0)
        frame = await view.until({"run_finished"}, 0, RUN_TIMEOUT)
    finally:
        await view.close()
    per_step = (frame.received - started) * 1000 / steps
    run = await api.run(run_id)
    check(run["status"] == "passed", f"run {run_id} ended {run['status']}: {run.get('error')}")
    check(len(run["steps"]) == steps, f"run {run_id} has {len(run['steps'])} steps")
    check_log(view, await api.events(run_id))
    return per_step


async def e2e_samples(ctx: Context, slug: str, steps: int) -> list[float]:
    api = ctx.api()
    try:
        await timed_run(api, slug, steps)  # untimed: first imports and connections
        return [await timed_run(api, slug, steps) for _ in range(ctx.sizes.e2e_runs)]
    finally:
        await api.close()


def bench_e2e(ctx: Context) -> None:
    sizes = ctx.sizes
    steps = sizes.transforms + 1
    samples = asyncio.run(e2e_samples(ctx, CHAIN, steps))
    long_steps = sizes.transforms_long + 1
    long_samples = asyncio.run(e2e_samples(ctx, CHAIN_LONG, long_steps))
    # What one more step adds, the per-run costs (POST, socket, first and last push) taken
    # out: the slope between the two chains' medians.
    marginal = (median(long_samples) * long_steps - median(samples) * steps) / (long_steps - steps)
    worker = ctx.stack.start_rq_worker(CHAIN_QUEUE)
    try:
        hops = chain_ms(ctx.services.redis_url, sizes.chain_runs, sizes.chain_steps)
    finally:
        ctx.stack.stop_child(worker)
    ahead = median(hops) / median(samples)
    ctx.table.timing(
        SECTION, f"API run, trigger + {sizes.transforms} transforms", samples, "ms/step",
        target=TARGETS["e2e_step"], ratio=f"{ahead:.2f}× vs RQ hop",
        note=f"POST /api/test-runs → run_finished frame on its socket, ÷ {steps} steps",
    )  # fmt: skip
    ctx.table.timing(
        SECTION, f"  API run, trigger + {sizes.transforms_long} transforms", long_samples,
        "ms/step", note=f"the same, ÷ {long_steps} steps",
    )  # fmt: skip
    ctx.table.value(
        SECTION, "  marginal cost of one more step", marginal, "ms/step",
        ratio=f"{median(hops) / marginal:.2f}× vs RQ hop",
        note=f"(long run − {steps}-step run) ÷ {long_steps - steps} steps: the per-run costs "
        "(POST, socket, first and last push) taken out",
    )  # fmt: skip
    ctx.table.timing(
        SECTION, f"  peer: RQ chain of {sizes.chain_steps} plain jobs", hops, "ms/hop",
        note="each job enqueues the next; one rq SimpleWorker on the same Redis",
    )  # fmt: skip
    ctx.table.value(
        SECTION, "  e2e step ahead of RQ hop", ahead, "×", target=TARGETS["e2e_vs_rq"],
        ratio=f"{ahead:.2f}×",
    )  # fmt: skip
