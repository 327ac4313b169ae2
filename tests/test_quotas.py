"""Quotas on starting test runs (testruns/quotas.py): the per-user rate (429 + Retry-After on
the API, the re-run and the Test-run form) and the per-project cap on active runs."""

from __future__ import annotations

from typing import Any

import django_rq
import pytest
from django.test import override_settings
from rq import Queue

from testruns import quotas
from testruns.models import RunStatus, TestRun
from tests.api.helpers import assert_error, send
from tests.factories import Team, make_run, run_form

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_queue(run_queue: Queue) -> Queue:
    return run_queue


def clear_counters() -> None:
    connection = django_rq.get_connection("testruns")
    for key in connection.scan_iter(f"{quotas.KEY_PREFIX}:*"):
        connection.delete(key)


@pytest.fixture(autouse=True)
def fresh_counters() -> Any:
    clear_counters()
    yield
    clear_counters()


def start(team: Team, who: str = "editor") -> Any:
    client = team.bearer(team.user(who))
    return send(client, "POST", team.url("/api/test-runs"), {"workflow": "lead-flow"})


@override_settings(RUN_START_RATE=3, RUN_START_RATE_WINDOW_SECONDS=60)
def test_the_api_answers_429_with_retry_after_once_the_rate_is_used_up(team: Team) -> None:
    for _ in range(3):
        assert start(team).status_code == 201
    refused = start(team)
    assert_error(refused, 429, "$")
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "3 per 60 seconds" in refused.data["error"]
    assert TestRun.objects.count() == 3
    # The limit is per user: another member may still start runs.
    assert start(team, "owner").status_code == 201


@override_settings(RUN_START_RATE=1)
def test_a_rerun_counts_against_the_rate(team: Team) -> None:
    assert start(team).status_code == 201
    run = TestRun.objects.get()
    refused = send(team.bearer(team.editor), "POST", f"/api/test-runs/{run.id}/rerun", {})
    assert_error(refused, 429)
    assert refused["Retry-After"]


@override_settings(RUN_START_RATE=1)
def test_the_form_shows_the_rate_limit_message_with_429(team: Team) -> None:
    client = team.client("editor")
    url = team.url("/workflows/lead-flow/test-run/")
    assert client.post(url, run_form()).status_code == 302
    page = client.post(url, run_form())
    assert page.status_code == 429
    assert "Too many test runs started" in page.content.decode()
    assert TestRun.objects.count() == 1


@override_settings(RUN_START_RATE=0)
def test_a_rate_of_zero_is_unlimited(team: Team) -> None:
    for _ in range(5):
        assert start(team).status_code == 201


@override_settings(MAX_ACTIVE_RUNS_PER_PROJECT=2)
def test_the_project_cap_on_active_runs(team: Team) -> None:
    first = make_run(team.workflow, team.owner)
    make_run(team.workflow, team.owner)
    refused = start(team)
    assert_error(refused, 429, "$")
    assert "active test runs" in refused.data["error"]
    assert "Retry-After" not in refused
    # Finished runs do not count.
    TestRun.objects.filter(pk=first.pk).update(status=RunStatus.PASSED)
    assert start(team).status_code == 201


@override_settings(MAX_ACTIVE_RUNS_PER_PROJECT=1)
def test_the_cap_is_per_project(team: Team) -> None:
    make_run(team.workflow, team.owner)
    with pytest.raises(quotas.QuotaExceeded):
        quotas.check_start(team.editor, team.project)
    other = team.outsider.memberships.get().project
    quotas.check_start(team.outsider, other)


@override_settings(RUN_START_RATE=1)
def test_runs_without_a_user_are_not_rate_limited(team: Team) -> None:
    for _ in range(3):
        quotas.check_start(None, team.project)
