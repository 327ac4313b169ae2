"""Workflow run statistics (testruns.stats): the figures, the sparkline, the pages and API
that show them, and what they cost: one query for the whole workflow list, on the index."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from jsonschema import Draft202012Validator

from meshhook.api.openapi import document
from meshhook.models import Workflow
from meshhook.timefmt import iso
from testruns import stats
from testruns.models import RunStatus, TestRun
from tests.factories import Team, definition, make_run, make_workflow
from tests.pages.helpers import text_of

pytestmark = pytest.mark.django_db

# (status, duration ms, age): newest first. Counted: passed, failed, error; the durations
# of those sorted are 50 100 200 300 400 1000, so the average is 341.67 and the p95 is at
# rank 0.95 × 5 = 4.75: 400 + 0.75 × (1000 − 400) = 850.
HISTORY = [
    (RunStatus.RUNNING, None, timedelta(seconds=5)),
    (RunStatus.PASSED, 100, timedelta(minutes=1)),
    (RunStatus.FAILED, 1000, timedelta(minutes=2)),
    (RunStatus.CANCELLED, 9999, timedelta(minutes=3)),
    (RunStatus.PASSED, 200, timedelta(minutes=4)),
    (RunStatus.ERROR, 50, timedelta(hours=3)),
    (RunStatus.PASSED, 300, timedelta(hours=23)),
    (RunStatus.PASSED, 400, timedelta(days=2)),  # not in the last 24 h
]


def words_of(response: object) -> str:
    """The page's text without tags, in single spaces."""
    return " ".join(re.sub(r"<[^>]+>", " ", text_of(response)).split())


def add_runs(
    workflow: Workflow, team: Team, history: Sequence[tuple[str, int | None, timedelta]]
) -> list[TestRun]:
    now = timezone.now()
    runs = []
    for status, duration, age in history:
        run = make_run(workflow, team.owner)
        TestRun.objects.filter(pk=run.pk).update(
            status=status, duration_ms=duration, created_at=now - age
        )
        runs.append(run)
    return runs


def test_figures_over_the_window(team: Team) -> None:
    runs = add_runs(team.workflow, team, HISTORY)
    figures = stats.workflow_stats(team.workflow)
    assert figures.runs == figures.window_runs == 8
    assert (figures.passed, figures.counted) == (4, 6)  # cancelled and running not counted
    assert figures.pass_rate == pytest.approx(4 / 6)
    assert figures.pass_percent == "67%"
    assert figures.avg_ms == 342
    assert figures.p95_ms == 850
    assert (figures.day_passed, figures.day_counted) == (3, 5)
    assert figures.last_run is not None
    assert figures.last_run.id == runs[0].id
    assert figures.last_run.status == RunStatus.RUNNING
    assert [mark.id for mark in figures.recent] == [run.id for run in runs]
    assert not figures.window_full


def test_a_workflow_without_runs_has_empty_figures(team: Team) -> None:
    figures = stats.workflow_stats(team.workflow)
    assert figures.runs == figures.window_runs == figures.counted == 0
    assert figures.pass_rate is None
    assert figures.pass_percent == "–"
    assert figures.avg_ms is None
    assert figures.p95_ms is None
    assert figures.last_run is None
    assert stats.workflows_stats([]) == {}


def test_only_the_newest_runs_count(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stats, "WINDOW", 4)
    monkeypatch.setattr(stats, "SPARK_RUNS", 3)
    add_runs(team.workflow, team, HISTORY)
    figures = stats.workflow_stats(team.workflow)
    assert figures.runs == 8  # the count is of all runs
    assert not figures.runs_more
    monkeypatch.setattr(stats, "COUNT_LIMIT", 5)
    capped = stats.workflow_stats(team.workflow)
    assert capped.runs == 5
    assert capped.runs_more
    assert figures.window_runs == 4
    assert figures.window_full
    # running, passed 100, failed 1000, cancelled: two counted, one passed
    assert (figures.passed, figures.counted) == (1, 2)
    assert figures.avg_ms == 550
    assert figures.p95_ms == 955  # 100 + 0.95 × 900
    assert len(figures.recent) == 3


def test_percentile_matches_postgresql() -> None:
    assert stats.percentile_cont([], 0.95) is None
    assert stats.percentile_cont([7], 0.95) == 7
    assert stats.percentile_cont([1000, 50, 300, 100, 400, 200], 0.95) == pytest.approx(850)
    assert stats.percentile_cont(list(range(1, 101)), 0.95) == pytest.approx(95.05)


def test_pass_percent_never_rounds_to_all_or_nothing() -> None:
    assert stats.WorkflowStats(passed=999, counted=1000).pass_percent == "99.9%"
    assert stats.WorkflowStats(passed=1, counted=1000).pass_percent == "0.1%"
    assert stats.WorkflowStats(passed=1, counted=1).pass_percent == "100%"
    assert stats.WorkflowStats(passed=0, counted=3).pass_percent == "0%"
    assert stats.WorkflowStats(passed=801, counted=1000).pass_percent == "80%"


def test_sparkline_marks_each_run_by_shape_and_title(team: Team) -> None:
    add_runs(team.workflow, team, HISTORY)
    svg = str(stats.workflow_stats(team.workflow).sparkline)
    assert svg.startswith('<svg class="sparkline"')
    assert 'role="img"' in svg
    assert 'aria-label="Last 8 test runs, oldest first: 1 running, 4 passed, 1 failed, ' in svg
    bars = re.findall(r'<rect class="spark-(\w+)" x="(\d+)" y="(\d+)" width="\d+" '
                      r'height="(\d+)"><title>([^<]*)</title></rect>', svg)  # fmt: skip
    assert [bar[0] for bar in bars] == [status for status, _, _ in reversed(HISTORY)]
    xs = [int(bar[1]) for bar in bars]
    assert xs == sorted(xs)
    assert xs[-1] == (stats.SPARK_RUNS - 1) * 6  # the newest at the right edge
    shapes = {status: (y, height) for status, _, y, height, _ in bars}
    # Passed stands above the middle line, failed and error hang below it, the rest sit on it.
    assert shapes["passed"] != shapes["failed"] == shapes["error"]
    assert shapes["cancelled"] == shapes["running"] not in (shapes["passed"], shapes["failed"])
    titles = [bar[4] for bar in bars]
    assert titles[0].startswith("Passed · 400 ms · ")
    assert titles[-1].startswith("Running · ")
    assert " ms" not in titles[-1]
    assert str(stats.sparkline_svg([])).count("<rect") == 0


def test_the_workflow_list_shows_the_figures(team: Team) -> None:
    add_runs(team.workflow, team, HISTORY)
    response = team.client("viewer").get("/workflows/")
    body = response.content.decode()
    assert body.count('<svg class="sparkline"') == 1
    row = words_of(response)
    assert "67%" in row
    assert "3/5 passed in 24 h" in row
    assert "850 ms" in row
    assert "avg 342 ms" in row
    assert "last 1,000 test runs" in row


def test_the_workflow_page_shows_the_figures(team: Team) -> None:
    add_runs(team.workflow, team, HISTORY)
    response = team.client("viewer").get(team.url("/workflows/lead-flow/"))
    text = words_of(response)
    assert "Test run statistics" in text
    for shown in ("Test runs 8", "Pass rate 67%", "4/6 passed", "3/5", "850 ms", "342 ms"):
        assert shown in text
    assert "passed in the last 24 h" in text
    assert "last 1,000 test runs (all 8 so far)" in text
    assert response.content.decode().count("<title>") >= 8


def test_the_workflow_page_without_runs(team: Team) -> None:
    text = words_of(team.client("viewer").get(team.url("/workflows/lead-flow/")))
    assert "No test runs yet: statistics appear after the first one." in text


def test_the_api_has_the_same_figures(team: Team) -> None:
    runs = add_runs(team.workflow, team, HISTORY)
    response = team.client("viewer").get(team.url("/api/workflows/lead-flow"))
    data = response.json()["stats"]
    assert data["runs"] == 8
    assert data["window"] == {"limit": 1000, "runs": 8}
    assert (data["passed"], data["counted"], data["pass_rate"]) == (4, 6, 0.6667)
    assert (data["avg_duration_ms"], data["p95_duration_ms"]) == (342, 850)
    assert data["last_24h"] == {"passed": 3, "counted": 5}
    assert [item["id"] for item in data["recent"]] == [str(run.id) for run in runs]
    assert data["recent"][1]["status"] == "passed"
    assert data["recent"][1]["duration_ms"] == 100
    assert data["recent"][1]["created_at"] == iso(TestRun.objects.get(pk=runs[1].pk).created_at)
    assert data["last_run"]["id"] == str(runs[0].id)
    components = document()["components"]
    schema = {"$ref": "#/components/schemas/WorkflowStats", "components": components}
    Draft202012Validator(schema).validate(data)  # the OpenAPI document describes it


def list_queries(team: Team) -> list[str]:
    client = team.client("owner")
    client.get("/workflows/")  # the session, warm
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/workflows/")
    assert response.status_code == 200
    return [query["sql"] for query in queries.captured_queries]


def test_the_list_queries_do_not_grow_with_the_workflows(team: Team) -> None:
    add_runs(team.workflow, team, HISTORY[:3])
    few = list_queries(team)
    for n in range(6):
        workflow = make_workflow(team.project, definition(f"more-{n}", name=f"More {n}"))
        add_runs(workflow, team, HISTORY[:2])
    many = list_queries(team)
    assert len(many) == len(few)
    body = team.client("owner").get("/workflows/").content.decode()
    assert body.count('<svg class="sparkline"') == 7


@pytest.mark.django_db(transaction=True)
def test_the_statistics_are_one_query_on_the_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """One statement for all the listed workflows; on PostgreSQL its plan reads each
    workflow's newest runs from the run_by_workflow index, never the whole table. The
    history is shaped like a long one: each workflow has several windows of runs."""
    monkeypatch.setattr(stats, "WINDOW", 100)
    call_command("seed_test_runs", runs=8000, workflows=20, user="stats", stdout=StringIO(),
                 stderr=StringIO())  # fmt: skip
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # what autovacuum does to a table this size
            cursor.execute("VACUUM ANALYZE testruns_testrun")
    workflows = list(Workflow.objects.filter(project__slug="stats"))
    assert len(workflows) == 20
    with CaptureQueriesContext(connection) as queries:
        figures = stats.workflows_stats(workflows)
    assert len(queries.captured_queries) == 1
    assert all(f.window_runs == 100 and len(f.recent) == 30 for f in figures.values())
    if connection.vendor == "sqlite":
        sql = " UNION ALL ".join([stats._SQLITE_BRANCH] * 2)
        with connection.cursor() as cursor:
            pk = workflows[0].pk
            cursor.execute("EXPLAIN QUERY PLAN " + sql, [pk, pk, 100] * 2)
            steps = [row[-1] for row in cursor.fetchall()]
        # Each branch is a range of the index, in its order: no scan, no sort.
        assert sum("USING COVERING INDEX run_by_workflow" in step for step in steps) == 2, steps
        assert not any(step.startswith("SCAN testruns_testrun") for step in steps), steps
        assert not any("TEMP B-TREE" in step for step in steps), steps
        return
    params: dict[str, Any] = {
        "ids": [w.pk for w in workflows],
        "since": timezone.now() - stats.DAY,
        "window": stats.WINDOW,
        "spark": stats.SPARK_RUNS,
    }
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + stats.lateral_sql(), params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert plan.count("Index Only Scan using run_by_workflow on testruns_testrun") == 2, plan
    assert "Seq Scan on testruns_testrun" not in plan, plan
    assert "Sort Key: testruns_testrun" not in plan, plan  # the index gives the order
