"""The history page (/test-runs/): only the user's projects' runs, every filter, keyset
pages, and garbage in the query string."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rq import Queue

from meshhook.models import Environment, Membership
from testruns.models import RunStatus, TestRun
from tests.factories import (
    MEMBERS,
    Team,
    add_member,
    definition,
    finished,
    make_run,
    make_user,
    make_workflow,
    personal_project,
)
from tests.pages.helpers import problems_in

pytestmark = pytest.mark.django_db


RUN_ROW = re.compile(r'id="run-row-([0-9a-f-]{36})"')


def run_ids(response: Any) -> list[str]:
    return RUN_ROW.findall(response.content.decode())


def older_runs_link(response: Any) -> str | None:
    match = re.search(r'<a class="[^"]*" href="([^"]*)">Older runs', response.content.decode())
    return html.unescape(match.group(1)) if match else None


def test_history_lists_runs_of_the_users_projects_only(team: Team, run_queue: Queue) -> None:
    ours = make_run(team.workflow, team.owner)
    outsider_workflow = make_workflow(personal_project(team.outsider), definition("secret-flow"))
    theirs = make_run(outsider_workflow, team.outsider)

    for who in MEMBERS:
        response = team.client(who).get("/test-runs/")
        assert response.status_code == 200
        assert run_ids(response) == [str(ours.id)]
        assert "secret-flow" not in response.content.decode()
    outsider = team.client("outsider").get("/test-runs/")
    assert run_ids(outsider) == [str(theirs.id)]
    assert "lead-flow" not in outsider.content.decode()
    # Filtering by the other project's workflow or user does not leak it either.
    for query in ("workflow=secret-flow", f"triggered_by={team.outsider.username}"):
        assert run_ids(team.client("owner").get(f"/test-runs/?{query}")) == []
    for query in ("workflow=lead-flow", f"triggered_by={team.owner.username}"):
        assert run_ids(team.client("outsider").get(f"/test-runs/?{query}")) == []


@pytest.fixture
def history(team: Team, run_queue: Queue) -> dict[str, TestRun]:
    """Runs that differ in one way each, to check every filter picks the right ones."""
    other = make_workflow(team.project, definition("other-flow"), team.owner)
    Environment.objects.create(project=team.project, name="staging")
    runs = {
        "plain": make_run(team.workflow, team.owner),
        "other_workflow": make_run(other, team.owner),
        "failed": finished(make_run(team.workflow, team.owner), RunStatus.FAILED),
        "staging": make_run(team.workflow, team.owner, environment="staging"),
        "by_editor": make_run(team.workflow, team.editor),
        "console": make_run(team.workflow, team.owner),
        "old": make_run(team.workflow, team.owner),
    }
    TestRun.objects.filter(pk=runs["console"].pk).update(source=TestRun.Source.CONSOLE)
    TestRun.objects.filter(pk=runs["old"].pk).update(created_at=timezone.now() - timedelta(days=30))
    for run in runs.values():
        run.refresh_from_db()
    return runs


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("workflow=other-flow", {"other_workflow"}),
        ("status=failed", {"failed"}),
        ("environment=staging", {"staging"}),
        ("triggered_by=console", {"console"}),
        ("triggered_by={editor}", {"by_editor"}),
        ("since={old_day}&until={old_day}", {"old"}),
        ("until={old_day}", {"old"}),
        ("workflow=lead-flow&status=failed", {"failed"}),
        ("workflow=other-flow&status=failed", set()),
    ],
)
def test_history_filters(
    team: Team, history: dict[str, TestRun], query: str, expected: set[str]
) -> None:
    old_day = history["old"].created_at.date().isoformat()
    query = query.format(editor=team.editor.username, old_day=old_day)
    response = team.client("viewer").get(f"/test-runs/?{query}")
    assert response.status_code == 200
    by_id = {str(run.id): name for name, run in history.items()}
    assert {by_id[run_id] for run_id in run_ids(response)} == expected
    if not expected:
        assert "No test runs match these filters" in response.content.decode()


def test_history_since_today_excludes_old_runs(team: Team, history: dict[str, TestRun]) -> None:
    today = timezone.now().date().isoformat()
    response = team.client("owner").get(f"/test-runs/?since={today}")
    listed = set(run_ids(response))
    assert str(history["old"].id) not in listed
    assert len(listed) == len(history) - 1


def test_history_htmx_returns_the_results_fragment(team: Team, history: dict[str, TestRun]) -> None:
    response = team.client("owner", htmx=True).get("/test-runs/?status=failed")
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body
    assert 'id="run-results"' in body
    assert run_ids(response) == [str(history["failed"].id)]


def test_history_pages_with_the_older_runs_link(team: Team, run_queue: Queue) -> None:
    created = [make_run(team.workflow, team.owner) for _ in range(31)]
    # Same timestamp for several runs: the id breaks the tie.
    same = timezone.now() - timedelta(hours=1)
    TestRun.objects.filter(pk__in=[run.pk for run in created[10:16]]).update(created_at=same)
    client = team.client("viewer")

    seen: list[str] = []
    url: str | None = "/test-runs/"
    pages = 0
    while url is not None:
        response = client.get(url if url.startswith("/") else f"/test-runs/{url}")
        assert response.status_code == 200
        page = run_ids(response)
        assert 0 < len(page) <= 25
        seen += page
        url = older_runs_link(response)
        pages += 1
    assert pages == 2
    assert len(seen) == len(set(seen)) == 31
    assert seen == [
        str(pk)
        for pk in TestRun.objects.order_by("-created_at", "-id").values_list("pk", flat=True)
    ]


def test_older_runs_link_keeps_the_filters(team: Team, run_queue: Queue) -> None:
    other = make_workflow(team.project, definition("other-flow"), team.owner)
    ours = [make_run(team.workflow, team.owner) for _ in range(27)]
    for _ in range(3):
        make_run(other, team.owner)
    client = team.client("owner")

    first = client.get("/test-runs/?workflow=lead-flow")
    link = older_runs_link(first)
    assert link is not None
    assert "workflow=lead-flow" in link
    second = client.get(f"/test-runs/{link}")

    listed = run_ids(first) + run_ids(second)
    assert sorted(listed) == sorted(str(run.id) for run in ours)
    assert older_runs_link(second) is None


def test_older_runs_link_encodes_filter_values(team: Team, run_queue: Queue) -> None:
    plus = make_user("ann+ci@example.com")
    add_member(team.project, plus, Membership.Role.EDITOR)
    for _ in range(26):
        make_run(team.workflow, plus)
    client = team.client("owner")

    first = client.get("/test-runs/", {"triggered_by": plus.username})
    assert len(run_ids(first)) == 25
    link = older_runs_link(first)
    assert link is not None
    second = client.get(f"/test-runs/{link}")
    assert len(run_ids(second)) == 1


@pytest.mark.parametrize(
    "cursor", ["garbage", "!!!", "AAAA", "bm90LWEtZGF0ZXxub3QtYS11dWlk", "%00", "x" * 500]
)
def test_history_with_a_garbage_cursor_shows_the_first_page(
    team: Team, cursor: str, run_queue: Queue
) -> None:
    run = make_run(team.workflow, team.owner)
    response = team.client("owner").get("/test-runs/", {"cursor": cursor})
    assert response.status_code == 200
    assert run_ids(response) == [str(run.id)]


@pytest.mark.parametrize(
    ("query", "name", "value"),
    [("since=yesterday", "since", "yesterday"), ("until=2024-13-45", "until", "2024-13-45"),
     ("since=%00", "since", "\x00")],
)  # fmt: skip
def test_history_with_a_garbage_date_says_so_and_lists_without_that_filter(
    team: Team, query: str, name: str, value: str, run_queue: Queue
) -> None:
    run = make_run(team.workflow, team.owner)
    response = team.client("owner").get(f"/test-runs/?{query}")
    assert response.status_code == 200
    message = f"'{value}' is not a date (YYYY-MM-DD). The filter was ignored."
    assert problems_in(response) == [(name, message)]
    assert run_ids(response) == [str(run.id)]
