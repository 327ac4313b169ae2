"""3. Click → first live event, 4. a 20,000-event run streamed to a subscribed socket.

3: a step-mode run of the 40-transform workflow is opened on a socket (as the run page
does) and paused; each sample is one "Next step" click — `POST /advance` — timed until
the first frame carrying a new event arrives, then the bench waits for `run_paused`
before the next click. The POST runs concurrently, so its own round trip is inside the
figure but does not hold the clock back.

4: a step-mode run of a loop workflow is subscribed first (paused before its trigger),
then `POST /continue` releases it; every event must reach the socket once, in order,
and equal the stored log read back through the events API's paging.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from bench.client import Api, LiveView, WaitTimeout, check_log, event_time
from bench.config import TARGETS
from bench.context import CHAIN, FLOOD, Context
from bench.definitions import PAYLOAD, flood_events
from bench.stats import BenchError, check

CLICK = "3. Click → first live event"
FLOOD_SECTION = "4. Event stream to a subscribed socket"
FRAME_TIMEOUT = 60.0
STOPS = {"run_paused", "run_finished"}


async def paused_view(api: Api, slug: str, payload: object) -> LiveView:
    run_id = await api.start_run(slug, payload, mode="step")
    view = await api.socket(run_id)
    await view.resume(0)
    await view.until({"run_paused"}, 0, FRAME_TIMEOUT)
    return view


@dataclass
class Click:
    first_ms: float  # → the first frame with a new event (the web's own `run_resumed`)
    step_ms: float  # → the first frame with the step's own event, written by the worker
    finished: bool


async def click(api: Api, view: LiveView) -> Click:
    """One advance, timed to the first new event and to the step's first event."""
    last = view.last
    started = time.perf_counter()
    post = asyncio.create_task(api.call("POST", f"/api/test-runs/{view.run_id}/advance"))
    first: float | None = None
    step: float | None = None
    stopped: str | None = None
    try:
        while stopped is None:
            frame, types = await view.next_frame(FRAME_TIMEOUT)
            ms = (frame.received - started) * 1000
            new = [kind for seq, kind in types.items() if seq > last]
            if first is None and view.last > last:
                first = ms
            if step is None and any(kind.startswith("step_") for kind in new):
                step = ms
            stopped = next((kind for kind in new if kind in STOPS), None)
    finally:
        await post
    if first is None or step is None:
        raise BenchError(f"run {view.run_id}: a click showed no step event")
    return Click(first, step, stopped == "run_finished")


async def click_samples(ctx: Context) -> list[Click]:
    api = ctx.api()
    clicks: list[Click] = []
    try:
        for _ in range(ctx.sizes.click_runs):
            view = await paused_view(api, CHAIN, PAYLOAD)
            try:
                for _ in range(ctx.sizes.transforms + 2):  # bounded: steps + 1
                    clicks.append(await click(api, view))
                    if clicks[-1].finished:
                        break
                else:
                    raise BenchError(f"run {view.run_id} never finished")
            finally:
                await view.close()
            check_log(view, await api.events(view.run_id))
    finally:
        await api.close()
    return clicks


def bench_click(ctx: Context) -> None:
    clicks = asyncio.run(click_samples(ctx))
    ctx.table.timing(
        CLICK, "POST /advance → the step's first event frame", [c.step_ms for c in clicks],
        "ms", target=TARGETS["click"], judge="p95",
        note=f"step-mode runs of trigger + {ctx.sizes.transforms} transforms, one click per "
        "step, socket already subscribed; the step_started the worker writes",
    )  # fmt: skip
    ctx.table.timing(
        CLICK, "  → first new event frame (run_resumed)", [c.first_ms for c in clicks], "ms",
        note="the line the web process itself writes when it takes the click",
    )  # fmt: skip


@dataclass
class Flood:
    events: int = 0  # events that arrived after the click (before a cancel, if any)
    seconds: float = 0.0  # click → last of them
    latencies: list[float] = field(default_factory=list)
    cancelled: bool = False


async def flood(ctx: Context) -> Flood:
    sizes = ctx.sizes
    api = ctx.api()
    result = Flood()
    try:
        view = await paused_view(api, FLOOD, {"items": list(range(sizes.events_loop_items))})
        try:
            before = view.last
            started_wall = time.time()
            await api.call("POST", f"/api/test-runs/{view.run_id}/continue")
            try:
                frame = await view.until({"run_finished"}, before, sizes.flood_budget_s)
                ended = frame.wall
            except WaitTimeout:
                # Out of budget: stop the run; the contract is still checked on what it stored.
                result.cancelled, ended = True, time.time()
                await api.call("POST", f"/api/test-runs/{view.run_id}/cancel")
                await view.until({"run_finished"}, before, FRAME_TIMEOUT)
        finally:
            await view.close()
        stored = await api.events(view.run_id)
        check_log(view, stored)
        if not result.cancelled:
            expected = flood_events(sizes.events_loop_items, sizes.events_body)
            check(len(stored) >= expected - 8, f"{len(stored)} events stored, not {expected}")
        live = [e for e in stored if e["seq"] > before and view.arrived[e["seq"]] <= ended]
        result.events = len(live)
        result.seconds = (max(view.arrived[e["seq"]] for e in live) - started_wall) if live else 0
        result.latencies = [(view.arrived[e["seq"]] - event_time(e)) * 1000 for e in live]
        return result
    finally:
        await api.close()


def bench_flood(ctx: Context) -> None:
    sizes = ctx.sizes
    got = asyncio.run(flood(ctx))
    table = ctx.table
    rate = got.events / got.seconds if got.seconds > 0 else None
    cut = f" (budget hit at {got.events:,}: cancelled)" if got.cancelled else ""
    table.value(
        FLOOD_SECTION, f"{got.events:,} events, one run → socket{cut}", rate, "lines/s",
        n=got.events, target=TARGETS["lines_per_s"],
        note=f"a loop of {sizes.events_loop_items:,} items × {sizes.events_body} transforms; "
        "POST /continue → run_finished frame; all arrived once, in order, equal to "
        "GET /events paging",
    )  # fmt: skip
    table.timing(
        FLOOD_SECTION, "  event ts → frame received", got.latencies, "ms",
        target=TARGETS["line_p99"], judge="p99",
        note="ts is when the worker stored the event (lines are buffered before that)",
    )  # fmt: skip
