"""4. History pagination deep in the list, 5. the live view's render per socket push."""

from __future__ import annotations

from collections.abc import Callable

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
        f"{PAGE_SIZE} per page, page {DEPTH}"
    )

    cursor: str | None = None
    for _ in range(DEPTH - 1):  # walk there as a user clicking "older" would
        _, cursor = keyset_page(runs, cursor, PAGE_SIZE)
    if cursor is None:
        raise BenchError(f"fewer than {DEPTH} pages of history")
    deep_cursor = cursor
    keyset_rows, _ = keyset_page(runs, deep_cursor, PAGE_SIZE)

    offset = (DEPTH - 1) * PAGE_SIZE

    def offset_page() -> tuple[list[TestRun], int]:
        page = list(runs.order_by("-created_at", "-id")[offset : offset + PAGE_SIZE])
        return page, runs.count()

    offset_rows, _ = offset_page()
    # Both approaches must show the same page, or the comparison is meaningless.
    check([r.pk for r in keyset_rows] == [r.pk for r in offset_rows], "pages differ")

    keyset: Callable[[], object] = lambda: keyset_page(runs, deep_cursor, PAGE_SIZE)  # noqa: E731
    keyset_ms = table.timing("keyset_page (cursor from page 199)", repeat_ms(keyset, REPEATS))
    offset_ms = table.timing(
        f"OFFSET {offset:,} LIMIT {PAGE_SIZE} + exact count()", repeat_ms(offset_page, REPEATS)
    )
    table.timing("  of which count() alone", repeat_ms(runs.count, REPEATS))
    table.ratio("OFFSET+count / keyset", offset_ms, keyset_ms, f"page {DEPTH}")


def bench_live_view(table: Table, run_id: str) -> None:
    """Renders like the socket does after each wake-up: the next 50 events plus the state."""
    existing = RunEvent.objects.filter(run_id=run_id).count()
    append_events(run_id, log_lines(LIVE_EVENTS - existing))
    check(RunEvent.objects.filter(run_id=run_id).count() == LIVE_EVENTS, "event count")
    table.section(
        f"5. Live view: render_update for a finished 10-step run with {LIVE_EVENTS} events"
    )
    samples: list[float] = []
    size = 0
    for _ in range(LIVE_ROUNDS):
        for after in range(0, LIVE_EVENTS, LIVE_BATCH):
            push: Callable[[], object] = lambda after=after: render_update(  # noqa: E731
                run_id, after, controls=True
            )
            samples.extend(repeat_ms(push, 1, warmup=0))
    html, last = render_update(run_id, LIVE_EVENTS - LIVE_BATCH, controls=True)
    size = len(html.encode())
    check(last == LIVE_EVENTS, f"render_update stopped at {last}")
    table.timing(
        f"render_update, {LIVE_BATCH} new events per push",
        samples,
        "ms/push",
        f"{size / 1024:.0f} KiB of HTML per push",
    )
