"""4. History pagination deep in the list, 5. the live view's render per socket push."""

from __future__ import annotations

import time

from django.db.models import QuerySet

from bench.data import Fixture, bulk_history
from bench.eventlog_bench import log_lines
from bench.stats import BenchError, Table, check, repeat_ms
from testruns.consumers import render_update
from testruns.eventlog import append_events
from testruns.models import RunEvent, TestRun
from testruns.queries import keyset_page, runs_for

HISTORY_ROWS = 20_000
PAGE_SIZE = 25  # what the history page uses
DEPTH = 200  # page number measured
REPEATS = 30
LIVE_EVENTS = 200
LIVE_BATCH = 50
LIVE_ROUNDS = 15


def history_queryset(fixture: Fixture) -> QuerySet[TestRun]:
    """The history page's own queryset: the user's projects, with what each row shows."""
    return runs_for(fixture.user).select_related("workflow", "workflow_version", "triggered_by")


def bench_history(table: Table, fixture: Fixture) -> None:
    bulk_history(fixture, HISTORY_ROWS)
    runs = history_queryset(fixture)
    total = runs.count()
    table.section(
        f"4. History pagination: {total:,} runs (moderate on purpose), "
        f"{PAGE_SIZE} per page as on the history page"
    )

    cursor: str | None = None
    for _ in range(DEPTH - 1):  # walk there as a user clicking "older" would
        _, cursor = keyset_page(runs, cursor, PAGE_SIZE)
    if cursor is None:
        raise BenchError(f"fewer than {DEPTH} pages of history")
    deep: str = cursor
    offset = (DEPTH - 1) * PAGE_SIZE

    def keyset_first() -> object:
        return keyset_page(runs, None, PAGE_SIZE)

    def keyset_deep() -> list[TestRun]:
        return keyset_page(runs, deep, PAGE_SIZE)[0]

    def offset_deep() -> list[TestRun]:
        page = list(runs.order_by("-created_at", "-id")[offset : offset + PAGE_SIZE])
        runs.count()  # the "page N of M" an OFFSET paginator shows
        return page

    # All approaches must show the same page, or the comparison is meaningless.
    expected = [run.pk for run in keyset_deep()]
    check([run.pk for run in offset_deep()] == expected, "OFFSET page differs from keyset")

    table.timing("keyset_page, page 1", repeat_ms(keyset_first, REPEATS))
    keyset_ms = table.timing(
        f"keyset_page, page {DEPTH} (cursor from page {DEPTH - 1})",
        repeat_ms(keyset_deep, REPEATS),
    )
    offset_ms = table.timing(
        f"OFFSET {offset:,} LIMIT {PAGE_SIZE} + exact count(), page {DEPTH}",
        repeat_ms(offset_deep, REPEATS),
    )
    table.timing("  of which count() alone", repeat_ms(runs.count, REPEATS))
    table.ratio(f"OFFSET+count / keyset, page {DEPTH}", offset_ms, keyset_ms)
    table.note(
        "History: PostgreSQL is ANALYZEd after the bulk insert, as autovacuum would have; "
        "SQLite is not, as Django never runs ANALYZE there."
    )


def bench_live_view(table: Table, run_id: str) -> None:
    """Renders like the socket does after each wake-up: the next 50 events plus the state."""
    events = RunEvent.objects.filter(run__pk=run_id)
    append_events(run_id, log_lines(LIVE_EVENTS - events.count()))
    check(events.count() == LIVE_EVENTS, "the run does not have the events wanted")
    table.section(
        f"5. Live view: render_update for a finished 10-step run with {LIVE_EVENTS} events"
    )
    render_update(run_id, 0, controls=True)  # warm the template cache
    samples: list[float] = []
    for _ in range(LIVE_ROUNDS):
        for after in range(0, LIVE_EVENTS, LIVE_BATCH):
            started = time.perf_counter()
            render_update(run_id, after, controls=True)
            samples.append((time.perf_counter() - started) * 1000)
    html, last = render_update(run_id, LIVE_EVENTS - LIVE_BATCH, controls=True)
    size = len(html.encode())
    check(last == LIVE_EVENTS, f"render_update stopped at {last}")
    table.timing(
        f"render_update, {LIVE_BATCH} new events per push",
        samples,
        "ms/push",
        f"{size / 1024:.0f} KiB of HTML per push",
    )
