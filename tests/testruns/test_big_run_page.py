"""The run page of a run with 20,000 step rows and 40,000 events: it reads the top-level
steps, a few aggregates and the log's tail, never the 20,000 rows, and shows each loop as
"1,000 items · 0 failed" (or its live "557/1,000" while it runs)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection
from django.db.models.signals import post_init
from django.test.utils import CaptureQueriesContext
from rq import Queue

from testruns.models import RunEvent, RunStatus, StepRun, StepStatus, TestRun
from testruns.presenters import LOG_TAIL
from tests.factories import Team, make_workflow
from tests.testruns.big_runs import finished_loop_run, items, loop_definition

pytestmark = pytest.mark.django_db
ITEMS, BODY = 1_000, 20


@pytest.fixture
def huge(team: Team, run_queue: Queue) -> TestRun:
    workflow = make_workflow(team.project, loop_definition(body=BODY), team.owner)
    run = finished_loop_run(workflow, team.owner, count=ITEMS, events=40_000)
    assert run.steps.count() == ITEMS * BODY + 3
    return run


@contextmanager
def counting_step_rows() -> Iterator[list[int]]:
    """How many StepRun objects are made while the block runs (rows read from the database)."""
    made = [0]

    def count(**_: Any) -> None:
        made[0] += 1

    post_init.connect(count, sender=StepRun)
    try:
        yield made
    finally:
        post_init.disconnect(count, sender=StepRun)


def test_the_page_of_a_20000_step_run_reads_no_more_than_it_shows(
    team: Team, huge: TestRun
) -> None:
    client = team.client("viewer")
    client.get(f"/test-runs/{huge.id}/")  # warm the template cache
    with counting_step_rows() as made, CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = client.get(f"/test-runs/{huge.id}/")
        elapsed = time.perf_counter() - started
    page = response.content.decode()
    print(f"\n20,000-step run page: {elapsed * 1000:.0f} ms, {len(page) / 1024:.0f} KiB, "
          f"{len(queries)} queries, {made[0]} step rows read")  # fmt: skip
    assert response.status_code == 200
    assert made[0] <= 10  # the three top-level steps, not the items
    assert len(queries) <= 30
    assert len(page) < 600_000
    summary = page.split('id="loop-summary-each"')[1].split("</summary>")[0]
    assert "1,000 items" in summary
    assert "0 failed" in summary
    assert 'id="step-b0-' not in page  # the items load when the loop is opened
    assert len(re.findall(r'class="log-line', page)) == LOG_TAIL
    assert "Show earlier lines" in page


def test_a_running_loop_shows_its_live_progress(team: Team, huge: TestRun) -> None:
    """557 of 1,000 items done: the item count comes from what the loop iterates over, the
    progress from the event log."""
    TestRun.objects.filter(pk=huge.pk).update(status=RunStatus.RUNNING, duration_ms=None)
    huge.steps.filter(node_id="hook").update(output={"body": items(ITEMS), "headers": {}})
    huge.steps.filter(node_id="each").update(status=StepStatus.RUNNING)
    huge.steps.filter(node_id="done").update(status=StepStatus.PENDING)
    huge.steps.filter(parent_node_id="each", iteration__gte=400).delete()
    RunEvent.objects.filter(run=huge, iteration__gt=557).update(iteration=557)
    page = team.client("viewer").get(f"/test-runs/{huge.id}/").content.decode()
    summary = page.split('id="loop-summary-each"')[1].split("</summary>")[0]
    assert re.search(r">557/1,000</strong> items", summary)
    header = page.split('id="run-header"')[1].split("</section>")[0]
    assert "557/1,000 items" in header
    assert 'value="557"' in header
    assert 'ws-connect="/ws/test-runs/' in page
