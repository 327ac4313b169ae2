"""What the core app's workflow pages and API show about a workflow's test runs.

Installed into `meshhook.extensions` by `TestRunsConfig.ready`, so the core app can show
them without importing this app.

The figures of a workflow — pass rate, average and p95 duration, the last 24 h — are over
its last `WINDOW` test runs (newest first by `created_at`, then id), so they cost the same
at a thousand runs as at a million: each workflow's window is one range of the
`run_by_workflow` index, which also holds the status and duration (an index-only scan).
The workflow list gets every listed workflow's figures in one query, however many there
are: on PostgreSQL a `LATERAL` join per workflow id with `percentile_cont`; on SQLite a
`UNION ALL` of each workflow's window (an index range with a LIMIT) and the same
arithmetic in Python over those rows.

Which runs count: the pass rate is passed / (passed + failed + error); cancelled and
unfinished runs are shown (the sparkline, the last run) but not counted, and the durations
are those of the counted runs.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from html import escape
from typing import Any, NamedTuple
from uuid import UUID

from django.db import connection
from django.db.models import Count
from django.http import HttpRequest
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from meshhook.models import Workflow
from meshhook.timefmt import iso
from testruns.models import RunStatus, TestRun
from testruns.serializers import SUMMARY_RELATED, run_page_path, run_summary

# How many of a workflow's newest runs the figures cover, and how many the sparkline shows.
WINDOW = 1000
SPARK_RUNS = 30
# The workflow page counts a workflow's runs up to this many ("100,000+").
COUNT_LIMIT = 100_000
COUNTED = (RunStatus.PASSED, RunStatus.FAILED, RunStatus.ERROR)
DAY = timedelta(hours=24)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RunMark(NamedTuple):
    """One run of the sparkline (and the last run); a tuple, as there are many."""

    id: UUID
    status: str
    duration_ms: int | None
    created_at: datetime

    @property
    def url(self) -> str:
        return run_page_path(self.id)

    @property
    def label(self) -> str:
        """The title of its mark, e.g. `Passed · 1,234 ms · 2026-12-01 11:20:05 UTC`."""
        return self.title(timezone.get_current_timezone())

    def title(self, zone: tzinfo) -> str:
        when = self.created_at.astimezone(zone)
        shown = f"{when.isoformat(' ', 'seconds')[:19]} {when.tzname()}"
        if self.duration_ms is None:
            return f"{self.status.capitalize()} · {shown}"
        return f"{self.status.capitalize()} · {self.duration_ms:,} ms · {shown}"


@dataclass
class WorkflowStats:
    """A workflow's figures over its last `WINDOW` runs; `runs` is the number of all its
    runs where it was asked for (the workflow page), else None (the list)."""

    window_runs: int = 0
    passed: int = 0
    counted: int = 0
    avg_ms: int | None = None
    p95_ms: int | None = None
    day_passed: int = 0
    day_counted: int = 0
    recent: list[RunMark] = field(default_factory=list)  # newest first, ≤ SPARK_RUNS
    runs: int | None = None
    runs_more: bool = False

    window = WINDOW

    @property
    def window_full(self) -> bool:
        return self.window_runs >= WINDOW

    @property
    def pass_rate(self) -> float | None:
        """passed / (passed + failed + error), or None without such runs."""
        return self.passed / self.counted if self.counted else None

    @property
    def pass_percent(self) -> str:
        """E.g. `80%`; one decimal only where rounding would claim 100% or 0% (`99.9%`)."""
        rate = self.pass_rate
        if rate is None:
            return "–"
        percent = rate * 100
        text = f"{percent:.0f}%"
        if text == "100%" and rate < 1:
            return f"{math.floor(percent * 10) / 10:.1f}%"
        if text == "0%" and rate > 0:
            return f"{math.ceil(percent * 10) / 10:.1f}%"
        return text

    @property
    def last_run(self) -> RunMark | None:
        return self.recent[0] if self.recent else None

    @property
    def sparkline(self) -> SafeString:
        return sparkline_svg(self.recent)

    def as_json(self) -> dict[str, Any]:
        return {
            "window": {"limit": WINDOW, "runs": self.window_runs},
            "pass_rate": round(self.pass_rate, 4) if self.pass_rate is not None else None,
            "passed": self.passed,
            "counted": self.counted,
            "avg_duration_ms": self.avg_ms,
            "p95_duration_ms": self.p95_ms,
            "last_24h": {"passed": self.day_passed, "counted": self.day_counted},
            "recent": [
                {
                    "id": str(mark.id),
                    "status": mark.status,
                    "duration_ms": mark.duration_ms,
                    "created_at": iso(mark.created_at),
                }
                for mark in self.recent
            ],
        }


def _round(value: float | None) -> int | None:
    """Half up, the same on every database."""
    return None if value is None else math.floor(float(value) + 0.5)


def percentile_cont(values: Sequence[int], fraction: float) -> float | None:
    """PostgreSQL's `percentile_cont`: linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --- queries --------------------------------------------------------------------------------

_TABLE = f'"{TestRun._meta.db_table}"'
_COUNTED_SQL = ", ".join(f"'{status}'" for status in COUNTED)  # fixed enum values, not input
_LATERAL_SQL = f"""
SELECT ids.id, s.window_runs, s.passed, s.counted, s.avg_ms, s.p95_ms, s.day_passed,
       s.day_counted, t.run_ids, t.statuses, t.durations, t.created
FROM unnest(%(ids)s::bigint[]) AS ids(id)
CROSS JOIN LATERAL (
    SELECT count(*) AS window_runs,
           count(*) FILTER (WHERE w.passed) AS passed,
           count(*) FILTER (WHERE w.counted) AS counted,
           avg(w.duration_ms) FILTER (WHERE w.counted) AS avg_ms,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY w.duration_ms)
               FILTER (WHERE w.counted) AS p95_ms,
           count(*) FILTER (WHERE w.passed AND w.today) AS day_passed,
           count(*) FILTER (WHERE w.counted AND w.today) AS day_counted
    FROM (SELECT status = 'passed' AS passed, status IN ({_COUNTED_SQL}) AS counted,
                 created_at >= %(since)s AS today, duration_ms
          FROM {_TABLE} WHERE workflow_id = ids.id
          ORDER BY created_at DESC, id DESC LIMIT %(window)s) w
) s
CROSS JOIN LATERAL (
    SELECT array_agg(r.id) AS run_ids, array_agg(r.status) AS statuses,
           array_agg(r.duration_ms) AS durations,
           -- microseconds since the epoch: exact, and far cheaper to read than timestamps
           array_agg((extract(epoch FROM r.created_at) * 1000000)::bigint) AS created
    FROM (SELECT id, status, duration_ms, created_at FROM {_TABLE}
          WHERE workflow_id = ids.id ORDER BY created_at DESC, id DESC LIMIT %(spark)s) r
) t
"""


def lateral_sql() -> str:
    """The PostgreSQL statement (for EXPLAIN in tests and benchmarks)."""
    return _LATERAL_SQL


def _stats_postgresql(ids: list[int], since: datetime) -> dict[int, WorkflowStats]:
    params: dict[str, Any] = {"ids": ids, "since": since, "window": WINDOW, "spark": SPARK_RUNS}
    with connection.cursor() as cursor:
        cursor.execute(_LATERAL_SQL, params)
        rows = cursor.fetchall()
    found: dict[int, WorkflowStats] = {}
    for row in rows:
        pk, window_runs, passed, counted, avg_ms, p95_ms, day_passed, day_counted = row[:8]
        run_ids, statuses, durations, micros = (value or [] for value in row[8:])
        created = [EPOCH + timedelta(microseconds=value) for value in micros]
        found[pk] = WorkflowStats(
            window_runs=window_runs,
            passed=passed,
            counted=counted,
            avg_ms=_round(avg_ms),
            p95_ms=_round(p95_ms),
            day_passed=day_passed,
            day_counted=day_counted,
            recent=[
                RunMark(*values)
                for values in zip(run_ids, statuses, durations, created, strict=True)
            ],
        )
    return found


_SQLITE_BRANCH = (
    f"SELECT * FROM (SELECT %s, id, status, duration_ms, created_at FROM {_TABLE} "
    "WHERE workflow_id = %s ORDER BY created_at DESC, id DESC LIMIT %s)"
)
_SQLITE_BRANCHES = 200  # SQLite allows 500 terms in one compound SELECT


def _stats_sqlite(ids: list[int], since: datetime) -> dict[int, WorkflowStats]:
    """SQLite (`make run`): each workflow's window is one index range with a LIMIT, all of
    them in one `UNION ALL` (per 200 workflows), and the figures are worked out in Python
    over those rows. Timestamps come back naive, in UTC."""
    since_utc = since.astimezone(UTC).replace(tzinfo=None)
    by_workflow: dict[int, list[tuple[Any, ...]]] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(ids), _SQLITE_BRANCHES):
            chunk = ids[start : start + _SQLITE_BRANCHES]
            cursor.execute(
                " UNION ALL ".join([_SQLITE_BRANCH] * len(chunk)),
                [value for pk in chunk for value in (pk, pk, WINDOW)],
            )
            for row in cursor.fetchall():
                by_workflow.setdefault(row[0], []).append(row)
    found = {}
    for pk, rows in by_workflow.items():
        rows.sort(key=lambda row: (row[4], row[1]), reverse=True)  # newest first, as indexed
        recent = [
            RunMark(UUID(run_id), status, duration_ms, _sqlite_time(created_at))
            for _, run_id, status, duration_ms, created_at in rows[:SPARK_RUNS]
        ]
        found[pk] = _figures([(row[2], row[3], row[4] >= since_utc) for row in rows], recent)
    return found


def _sqlite_time(value: datetime | str) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC)


def _figures(rows: list[tuple[str, int | None, bool]], recent: list[RunMark]) -> WorkflowStats:
    """The figures from a window's (status, duration, in the last 24 h) rows."""
    counted = [row for row in rows if row[0] in COUNTED]
    durations = [duration for _, duration, _ in counted if duration is not None]
    recent_day = [row for row in counted if row[2]]
    return WorkflowStats(
        window_runs=len(rows),
        passed=sum(row[0] == RunStatus.PASSED for row in counted),
        counted=len(counted),
        avg_ms=_round(sum(durations) / len(durations)) if durations else None,
        p95_ms=_round(percentile_cont(durations, 0.95)),
        day_passed=sum(row[0] == RunStatus.PASSED for row in recent_day),
        day_counted=len(recent_day),
        recent=recent,
    )


def workflows_stats(workflows: Iterable[Workflow]) -> dict[int, WorkflowStats]:
    """Each workflow's figures by pk, in one query however many workflows there are; a
    workflow without runs gets empty figures."""
    ids = [workflow.pk for workflow in workflows]
    if not ids:
        return {}
    since = timezone.now() - DAY
    if connection.vendor == "postgresql":
        found = _stats_postgresql(ids, since)
    else:
        found = _stats_sqlite(ids, since)
    return {pk: found.get(pk) or WorkflowStats() for pk in ids}


def workflow_stats(workflow: Workflow) -> WorkflowStats:
    """The workflow page: the figures and the number of runs, counted on the index up to
    `COUNT_LIMIT` (`runs_more` says there are more)."""
    stats = workflows_stats([workflow])[workflow.pk]
    counted = TestRun.objects.filter(workflow=workflow).order_by()[: COUNT_LIMIT + 1].count()
    stats.runs, stats.runs_more = min(counted, COUNT_LIMIT), counted > COUNT_LIMIT
    return stats


def list_stats(workflows: Sequence[Workflow]) -> Mapping[int, WorkflowStats]:
    return workflows_stats(workflows)


# --- the sparkline --------------------------------------------------------------------------

# Geometry in viewBox units; CSS sizes the picture (`svg.sparkline`). Passed runs stand
# above the middle line, failed and error runs hang below it, everything else is a short
# mark on it: the shape tells them apart without the colour.
_BAR, _GAP, _HEIGHT, _MID = 4, 2, 24, 12
_SHAPES: dict[str, tuple[int, int]] = {
    RunStatus.PASSED: (1, 10),  # y, height
    RunStatus.FAILED: (13, 10),
    RunStatus.ERROR: (13, 10),
}
_MARK = (10, 4)


def sparkline_svg(recent: Sequence[RunMark]) -> SafeString:
    """An inline SVG of `recent` (newest first), drawn oldest to newest, left to right, the
    newest at the right edge; one bar per run with its status, duration and time as the
    title."""
    width = SPARK_RUNS * (_BAR + _GAP) - _GAP
    marks = list(reversed(recent[:SPARK_RUNS]))
    offset = (SPARK_RUNS - len(marks)) * (_BAR + _GAP)
    counts = Counter(mark.status for mark in marks)
    summary = ", ".join(
        f"{counts[status]} {status}" for status in RunStatus.values if counts[status]
    )
    label = f"Last {len(marks)} test runs, oldest first: {summary}" if marks else "No test runs yet"
    # Built as plain text: 30 bars for each of tens of workflows on one page. Only the
    # labels are text from outside; the rest are numbers and status names.
    zone = timezone.get_current_timezone()
    bars = "".join(
        f'<rect class="spark-{mark.status}" x="{offset + n * (_BAR + _GAP)}" y="{y}" '
        f'width="{_BAR}" height="{height}"><title>{escape(mark.title(zone))}</title></rect>'
        for n, mark in enumerate(marks)
        for y, height in (_SHAPES.get(mark.status, _MARK),)
    )
    return mark_safe(  # every part above is escaped or a number
        f'<svg class="sparkline" viewBox="0 0 {width} {_HEIGHT}" preserveAspectRatio="none" '
        f'role="img" aria-label="{escape(label)}"><line class="spark-mid" x1="0" x2="{width}" '
        f'y1="{_MID}" y2="{_MID}"></line>{bars}</svg>'
    )


# --- the API and the workflow page's recent runs ------------------------------------------


def workflow_stats_json(workflow: Workflow, request: HttpRequest | None) -> dict[str, Any]:
    runs = TestRun.objects.filter(workflow=workflow)
    by_status = dict(
        runs.order_by()
        .values_list("status")
        .annotate(count=Count("id"))
        .values_list("status", "count")
    )
    last_run = runs.select_related(*SUMMARY_RELATED).order_by("-created_at", "-id").first()
    return {
        "runs": sum(by_status.values()),
        "by_status": {status: by_status.get(status, 0) for status in RunStatus.values},
        "last_run": run_summary(last_run, request) if last_run else None,
        **workflows_stats([workflow])[workflow.pk].as_json(),
    }


def recent_runs(workflow: Workflow, limit: int) -> Sequence[TestRun]:
    return list(
        TestRun.objects.filter(workflow=workflow)
        .select_related("triggered_by", "workflow_version")
        .order_by("-created_at", "-id")[:limit]
    )
