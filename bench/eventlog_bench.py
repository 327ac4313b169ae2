"""Extra rows, in-process: what the figures above are made of.

- event log: `append_events` one event per call vs 50 per call (each call commits and
  publishes on the channel layer, the real price of a call);
- history: keyset page vs OFFSET + exact count at the same depth of the seeded history.
"""

from __future__ import annotations

import time

from django.contrib.auth import get_user_model
from django.utils import timezone

from bench.context import CHAIN, USERNAME, Context
from bench.definitions import PAYLOAD
from bench.stats import check, median, repeat_ms
from meshhook.models import Workflow
from testruns.eventlog import NewEvent, append_events
from testruns.models import RunEvent, RunStatus, TestRun
from testruns.queries import encode_cursor, filter_runs, keyset_page, runs_for

SECTION = "Extra (in-process)"
BATCH = 50


def log_lines(count: int, start: int = 0) -> list[NewEvent]:
    return [
        NewEvent("log", f"Fetched page {n} of contacts: 50 records, 12 updated.",
                 node_id=f"t{n % 9}", data={"page": n, "records": 50})
        for n in range(start, start + count)
    ]  # fmt: skip


def bare_run() -> TestRun:
    """A paused run row without a job: only what happens to its event log is measured.
    (Events are refused once a run has finished; a running run without a worker would be
    taken over by the sweeper within seconds, a paused one is left alone for an hour.)"""
    workflow = Workflow.objects.get(slug=CHAIN)
    environment = workflow.project.environments.get(name="local")
    now = timezone.now()
    return TestRun.objects.create(
        project=workflow.project, workflow=workflow,
        workflow_version=workflow.current_version(), environment=environment,
        environment_name=environment.name, payload=PAYLOAD, status=RunStatus.PAUSED,
        started_at=now, heartbeat_at=now,
    )  # fmt: skip


def events_per_s(events: int, per_call: int) -> float:
    run = bare_run()
    append_events(run.id, log_lines(5))  # warm the connection and the channel layer
    started = time.perf_counter()
    for offset in range(0, events, per_call):
        append_events(run.id, log_lines(per_call, offset))
    rate = events / (time.perf_counter() - started)
    stored = RunEvent.objects.filter(run=run).count()
    TestRun.objects.filter(pk=run.pk).update(status=RunStatus.PASSED, completed_at=timezone.now())
    check(stored == events + 5, f"{stored} of {events + 5} events stored")
    return rate


def bench_eventlog(ctx: Context) -> None:
    events = ctx.sizes.eventlog_events
    single = events_per_s(events, 1)
    batched = events_per_s(events, BATCH)
    table = ctx.table
    table.value(SECTION, "append_events, 1 event per call", single, "events/s", n=events)
    table.value(
        SECTION, f"append_events, {BATCH} events per call", batched, "events/s", n=events,
        ratio=f"{batched / single:.1f}× vs 1 per call",
    )  # fmt: skip


def bench_offset(ctx: Context) -> None:
    """Keyset vs OFFSET + count(*) at the deep page's depth (ORM, no HTTP)."""
    user = get_user_model()._default_manager.get(username=USERNAME)
    runs = filter_runs(runs_for(user), {"status": "passed"}).select_related(
        "workflow", "workflow_version", "triggered_by"
    )
    depth = min(ctx.sizes.history_depth, runs.count() - 100)
    if depth < 100:
        ctx.table.note("Extra: keyset vs OFFSET skipped (no seeded history; run section 6).")
        return
    ordered = runs.order_by("-created_at", "-id")
    cursor = encode_cursor(ordered[depth - 1])

    def keyset() -> None:
        keyset_page(runs, cursor, 50)

    def offset() -> None:
        list(ordered[depth : depth + 50])
        runs.count()

    repeats = max(3, ctx.sizes.history_repeats // 4)
    keyset_ms = repeat_ms(keyset, repeats)
    offset_ms = repeat_ms(offset, repeats, warmup=1)
    table = ctx.table
    table.timing(SECTION, f"keyset page {depth:,} deep, status=passed", keyset_ms, "ms")
    ratio = median(offset_ms) / median(keyset_ms)
    table.timing(
        SECTION, f"OFFSET {depth:,} + count(*), same page", offset_ms, "ms",
        ratio=f"{ratio:.0f}× keyset",
    )  # fmt: skip
