"""Retention of test runs: what `manage.py purge_test_runs` and the workers' daily purge delete.

A finished run older than the retention (TEST_RUN_RETENTION_DAYS; an imported run counts
from when it was imported) is deleted with its steps, events and checks, unless it is

- pinned with "Keep" (`TestRun.kept`);
- a test case's baseline or replay recording (the case's checks would change without it);
- the last run of a test case (the workflow page's card shows its result);
- a run of a suite still shown: a suite created within the retention, or not finished;
- the source of a run still under way (a re-run may read the outputs it reuses).

Queued, running and paused runs are never deleted. A finished suite older than the
retention goes once none of its runs are left.

Deleting takes at most BATCH_RUNS runs, or about BATCH_ROWS steps and events, per
transaction, and re-checks in that transaction that each run may still go (a "Keep"
clicked meanwhile wins), so no lock is held for long and other writers go on between
batches. The steps and events of a run bigger than BATCH_ROWS are deleted in chunks first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import django_rq
from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from meshhook.timefmt import iso
from testruns.models import ACTIVE_STATUSES, TERMINAL_STATUSES, RunEvent, StepRun, TestRun
from testruns.testcase_models import SUITE_FINISHED, TestCase, TestSuiteRun

logger = logging.getLogger(__name__)

BATCH_RUNS = 500
BATCH_ROWS = 20_000
# One daily purge per deployment: the worker (or web process) that sets this key runs it.
DAILY_KEY = "meshhook:testruns:purge:daily"
DAY_SECONDS = 24 * 3600
# How often each sweeper asks whether the daily purge is due (one Redis SET NX).
DUE_CHECK_SECONDS = 60.0

_AGE = re.compile(r"^\s*(\d+)\s*([wdhm]?)\s*$")
_UNITS = {"w": "weeks", "d": "days", "": "days", "h": "hours", "m": "minutes"}


def parse_age(text: str) -> timedelta:
    """`30d`, `12h`, `90m`, `2w` or a bare number of days."""
    match = _AGE.match(text.lower())
    if match is None:
        raise ValueError(f"'{text}' is not an age like 30d, 12h, 90m or 2w.")
    age = timedelta(**{_UNITS[match[2]]: int(match[1])})
    if age <= timedelta(0):
        raise ValueError("The age must be more than 0.")
    return age


# --- what may go ------------------------------------------------------------------------


def old_runs(cutoff: datetime) -> QuerySet[TestRun]:
    """Finished runs older than `cutoff`, before the reasons to keep one are applied."""
    aged = Q(imported_at__isnull=True, created_at__lt=cutoff) | Q(imported_at__lt=cutoff)
    return TestRun.objects.filter(aged, status__in=TERMINAL_STATUSES)


def shown_suites(cutoff: datetime) -> QuerySet[TestSuiteRun]:
    return TestSuiteRun.objects.filter(Q(created_at__gte=cutoff) | ~Q(status__in=SUITE_FINISHED))


def _case_runs(column: str) -> QuerySet[Any, Any]:
    cases: QuerySet[Any, Any] = TestCase.objects.filter(**{f"{column}__isnull": False})
    return cases.values(column)


def _last_case_runs() -> QuerySet[Any, Any]:
    last = TestRun.objects.filter(test_case=OuterRef("pk")).order_by("-created_at", "-id")
    return (
        TestCase.objects.annotate(last_run=Subquery(last.values("id")[:1]))
        .filter(last_run__isnull=False)
        .values("last_run")
    )


def _sources_of_active_runs() -> QuerySet[Any, Any]:
    return TestRun.objects.filter(status__in=ACTIVE_STATUSES, source_run__isnull=False).values(
        "source_run"
    )


def keep_reasons(cutoff: datetime) -> dict[str, Q]:
    """Why an old run stays, each as a filter (a run may have several)."""
    return {
        "pinned": Q(kept=True),
        "baselines": Q(pk__in=_case_runs("baseline_run")),
        "replay recordings": Q(pk__in=_case_runs("replay_from_run")),
        "last runs of test cases": Q(pk__in=_last_case_runs()),
        "in suites still shown": Q(suite__in=shown_suites(cutoff)),
        "sources of runs under way": Q(pk__in=_sources_of_active_runs()),
    }


def purgeable_runs(cutoff: datetime) -> QuerySet[TestRun]:
    runs = old_runs(cutoff)
    for reason in keep_reasons(cutoff).values():
        runs = runs.exclude(reason)
    return runs


def old_suites(cutoff: datetime) -> QuerySet[TestSuiteRun]:
    """Finished suites older than `cutoff` with no run left."""
    return TestSuiteRun.objects.filter(created_at__lt=cutoff, status__in=SUITE_FINISHED).exclude(
        Exists(TestRun.objects.filter(suite=OuterRef("pk")))
    )


# --- purging ----------------------------------------------------------------------------


@dataclass
class PurgeReport:
    cutoff: datetime
    dry_run: bool
    runs: int = 0
    steps: int = 0
    events: int = 0
    checks: int = 0
    suites: int = 0
    batches: int = 0  # transactions that deleted runs
    chunks: int = 0  # transactions that deleted steps or events of one big run
    kept: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        verb = "Would delete" if self.dry_run else "Deleted"
        batches = f"{self.batches:,} batch{'es' if self.batches != 1 else ''}"
        if self.chunks:
            batches += f" (+ {self.chunks:,} chunks of big runs)"
        return (
            f"{verb} {self.runs:,} test runs finished before {iso(self.cutoff)} "
            f"({self.steps:,} steps, {self.events:,} events, {self.checks:,} test-case checks) "
            f"in {'about ' if self.dry_run else ''}{batches}, and {self.suites:,} suites with "
            "no run left."
        )

    def kept_summary(self) -> str:
        shown = [f"{count:,} {reason}" for reason, count in self.kept.items() if count]
        if not shown:
            return "No older finished run is kept."
        return "Older finished runs kept: " + ", ".join(shown) + "."


def purge(
    older_than: timedelta,
    *,
    dry_run: bool = False,
    batch_runs: int = BATCH_RUNS,
    batch_rows: int = BATCH_ROWS,
    now: datetime | None = None,
    progress: Callable[[PurgeReport], None] | None = None,
) -> PurgeReport:
    """Delete (or, with `dry_run`, count) the runs older than `older_than` that may go."""
    cutoff = (now or timezone.now()) - older_than
    report = PurgeReport(cutoff=cutoff, dry_run=dry_run)
    old = old_runs(cutoff)
    report.kept = {reason: old.filter(q).count() for reason, q in keep_reasons(cutoff).items()}
    if dry_run:
        runs = purgeable_runs(cutoff)
        report.runs = runs.count()
        report.steps = StepRun.objects.filter(run__in=runs).count()
        report.events = RunEvent.objects.filter(run__in=runs).count()
        report.checks = TestRun.objects.filter(pk__in=runs, case_spec__isnull=False).count()
        report.batches = -(-report.runs // batch_runs)
        surviving = TestRun.objects.filter(suite=OuterRef("pk")).exclude(pk__in=runs)
        suites = TestSuiteRun.objects.filter(created_at__lt=cutoff, status__in=SUITE_FINISHED)
        report.suites = suites.exclude(Exists(surviving)).count()
        return report
    while True:
        candidates = list(
            purgeable_runs(cutoff)
            .order_by("created_at", "id")
            .values_list("pk", "last_seq", "total_steps")[:batch_runs]
        )
        if not candidates:
            break
        batch: list[uuid.UUID] = []
        rows = 0
        for run_id, last_seq, total_steps in candidates:
            weight = last_seq + total_steps
            if weight > batch_rows:
                _trim_big_run(run_id, cutoff, batch_rows, report)
                weight = 0
            if batch and rows + weight > batch_rows:
                break
            batch.append(run_id)
            rows += weight
        if not _delete_batch(batch, cutoff, report):
            break  # kept meanwhile, all of them: the next query would pick them again
        if progress is not None:
            progress(report)
    report.suites = _delete_suites(cutoff, batch_runs)
    return report


def _delete_batch(run_ids: list[uuid.UUID], cutoff: datetime, report: PurgeReport) -> bool:
    with transaction.atomic():
        # Locked and checked again: a run pinned or made a baseline meanwhile stays.
        locked = list(
            purgeable_runs(cutoff)
            .filter(pk__in=run_ids)
            .select_for_update()
            .values_list("pk", flat=True)
        )
        if not locked:
            return False
        # Steps, events and checks go in one DELETE each, references to the runs are set
        # to null in one UPDATE each (Django's collector, without loading the rows' data).
        _, counts = TestRun.objects.filter(pk__in=locked).only("pk").delete()
    report.batches += 1
    report.runs += counts.get("testruns.TestRun", 0)
    report.steps += counts.get("testruns.StepRun", 0)
    report.events += counts.get("testruns.RunEvent", 0)
    report.checks += counts.get("testruns.CaseRunSpec", 0)
    return True


def _trim_big_run(
    run_id: uuid.UUID, cutoff: datetime, batch_rows: int, report: PurgeReport
) -> None:
    """Delete the events and steps of a run too big for one batch, `batch_rows` at a time."""
    children: list[tuple[str, Callable[[], QuerySet[RunEvent] | QuerySet[StepRun]]]] = [
        ("events", lambda: RunEvent.objects.filter(run_id=run_id)),
        ("steps", lambda: StepRun.objects.filter(run_id=run_id)),
    ]
    for counter, rows in children:
        while True:
            with transaction.atomic():
                if not purgeable_runs(cutoff).filter(pk=run_id).select_for_update().exists():
                    return
                chunk = list(rows().order_by("pk").values_list("pk", flat=True)[:batch_rows])
                if not chunk:
                    break
                deleted, _ = rows().filter(pk__in=chunk).delete()
            report.chunks += 1
            setattr(report, counter, getattr(report, counter) + deleted)


def _delete_suites(cutoff: datetime, batch: int) -> int:
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(old_suites(cutoff).values_list("pk", flat=True)[:batch])
            if not ids:
                return deleted
            count, _ = old_suites(cutoff).filter(pk__in=ids).delete()
        deleted += count
        if count == 0:
            return deleted


# --- the daily purge --------------------------------------------------------------------

_next_check = 0.0
_check_lock = threading.Lock()


def purge_when_due() -> threading.Thread | None:
    """Called by every sweeper (testruns.sweep): once a day per deployment, whoever claims
    the day in Redis first purges, in a thread of its own so sweeps go on meanwhile.
    Never raises; an outage just means it is asked again later."""
    global _next_check
    days = settings.TEST_RUN_RETENTION_DAYS
    if days <= 0:
        return None
    with _check_lock:
        if time.monotonic() < _next_check:
            return None
        _next_check = time.monotonic() + DUE_CHECK_SECONDS
    try:
        if not claim_daily_purge():
            return None
    except Exception:
        logger.warning("Could not tell whether the daily purge is due", exc_info=True)
        return None
    thread = threading.Thread(
        target=_daily_purge, args=(timedelta(days=days),), daemon=True, name="purge"
    )
    thread.start()
    return thread


def claim_daily_purge() -> bool:
    """True for the one caller per DAY_SECONDS that gets to purge."""
    connection = django_rq.get_connection("testruns")
    holder = f"{socket.gethostname()}:{os.getpid()} {iso(timezone.now())}"
    return bool(connection.set(DAILY_KEY, holder, nx=True, ex=DAY_SECONDS))


def _daily_purge(older_than: timedelta) -> None:
    try:
        report = purge(older_than)
        logger.info("Daily purge of test runs: %s %s", report.summary(), report.kept_summary())
    except Exception:
        logger.warning("The daily purge of test runs failed; another try soon", exc_info=True)
        # Let this or another process try again at its next check.
        with contextlib.suppress(Exception):
            django_rq.get_connection("testruns").delete(DAILY_KEY)
    finally:
        close_old_connections()


# --- "Keep" -----------------------------------------------------------------------------


def set_kept(run: TestRun, kept: bool) -> TestRun:
    TestRun.objects.filter(pk=run.pk).update(kept=kept)
    run.kept = kept
    return run
