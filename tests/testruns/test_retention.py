"""Retention: `purge_test_runs` deletes exactly the old finished runs that may go, with their
steps and events, in batches; pinned, baseline, replay, last-of-a-case, suite and source
runs stay; a dry run deletes nothing; the workers purge once a day per deployment; and the
run page and API pin a run with "Keep"."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO

import django_rq
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from testruns import retention
from testruns.models import RunEvent, RunStatus, StepRun, TestRun
from testruns.testcase_models import CaseRunSpec, TestCase, TestSuiteRun
from tests.api.helpers import send
from tests.factories import Team, finished, make_run

pytestmark = pytest.mark.django_db

AGE = timedelta(days=30)


def old_run(
    team: Team, *, days: int = 40, status: str = RunStatus.PASSED, events: int = 3
) -> TestRun:
    """A finished run created `days` ago, with `events` log lines besides its own events."""
    run = finished(make_run(team.workflow, team.owner), status)
    RunEvent.objects.bulk_create(
        RunEvent(run=run, seq=run.last_seq + n, type="log", message=f"line {n}")
        for n in range(1, events + 1)
    )
    created = timezone.now() - timedelta(days=days)
    TestRun.objects.filter(pk=run.pk).update(created_at=created, last_seq=run.last_seq + events)
    run.refresh_from_db()
    return run


def exists(run: TestRun) -> bool:
    return TestRun.objects.filter(pk=run.pk).exists()


def test_only_old_finished_runs_without_a_reason_to_stay_go(team: Team) -> None:
    doomed = [old_run(team) for _ in range(3)]
    recent = old_run(team, days=2)
    active = old_run(team)
    TestRun.objects.filter(pk=active.pk).update(status=RunStatus.PAUSED)
    pinned = old_run(team)
    retention.set_kept(pinned, True)
    baseline, replayed = old_run(team), old_run(team)
    TestCase.objects.create(workflow=team.workflow, name="a", baseline_run=baseline)
    TestCase.objects.create(workflow=team.workflow, name="b", replay_from_run=replayed)
    case = TestCase.objects.create(workflow=team.workflow, name="c")
    older_of_case, last_of_case = old_run(team, days=50), old_run(team, days=45)
    TestRun.objects.filter(pk__in=[older_of_case.pk, last_of_case.pk]).update(test_case=case)
    shown = TestSuiteRun.objects.create(project=team.project, status="passed")
    in_shown_suite = old_run(team)
    TestRun.objects.filter(pk=in_shown_suite.pk).update(suite=shown)
    source = old_run(team)
    rerun = make_run(team.workflow, team.owner)
    TestRun.objects.filter(pk=rerun.pk).update(source_run=source)
    doomed.append(older_of_case)
    stays = [recent, active, pinned, baseline, replayed, last_of_case, in_shown_suite, source]
    stay_steps = StepRun.objects.filter(run__in=stays).count()
    stay_events = RunEvent.objects.filter(run__in=stays).count()
    doomed_events = RunEvent.objects.filter(run__in=doomed).count()

    report = retention.purge(AGE)

    assert report.runs == len(doomed) == 4
    assert report.events == doomed_events
    assert report.steps == 4 * 5  # five nodes each
    assert not any(exists(run) for run in doomed)
    assert all(exists(run) for run in stays)
    assert StepRun.objects.filter(run__in=stays).count() == stay_steps
    assert RunEvent.objects.filter(run__in=stays).count() == stay_events
    assert not RunEvent.objects.filter(run_id__in=[run.pk for run in doomed]).exists()
    assert report.kept["pinned"] == 1
    assert report.kept["baselines"] == 1
    assert report.kept["replay recordings"] == 1
    assert report.kept["last runs of test cases"] == 1
    assert report.kept["in suites still shown"] == 1
    assert report.kept["sources of runs under way"] == 1
    assert retention.purge(AGE).runs == 0  # nothing left to do


def test_an_imported_run_ages_from_its_import(team: Team) -> None:
    imported = old_run(team, days=400)
    TestRun.objects.filter(pk=imported.pk).update(imported_at=timezone.now() - timedelta(days=1))
    stale = old_run(team, days=400)
    TestRun.objects.filter(pk=stale.pk).update(imported_at=timezone.now() - timedelta(days=31))

    assert retention.purge(AGE).runs == 1
    assert exists(imported)
    assert not exists(stale)


def test_deletes_in_batches_with_a_fixed_number_of_queries_per_batch(team: Team) -> None:
    runs = [old_run(team) for _ in range(5)]
    CaseRunSpec.objects.create(run=runs[0])

    with CaptureQueriesContext(connection) as queries:
        report = retention.purge(AGE, batch_runs=2)

    assert (report.runs, report.batches, report.checks) == (5, 3, 1)
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    # One DELETE per table and batch, however many runs and events the batch has.
    assert sum('"testruns_testrun"' in sql.split("WHERE")[0] for sql in deletes) == 3
    assert sum('"testruns_runevent"' in sql.split("WHERE")[0] for sql in deletes) == 3
    assert sum('"testruns_steprun"' in sql.split("WHERE")[0] for sql in deletes) == 3
    assert not TestRun.objects.filter(pk__in=[run.pk for run in runs]).exists()


def test_a_batch_stops_at_its_row_budget_and_a_big_run_goes_in_chunks(team: Team) -> None:
    small = [old_run(team, events=2) for _ in range(3)]
    big = old_run(team, events=40)
    big_events = RunEvent.objects.filter(run=big).count()
    all_events = RunEvent.objects.count()

    report = retention.purge(AGE, batch_rows=15)

    assert not exists(big)
    assert not any(exists(run) for run in small)
    assert report.chunks >= big_events // 15  # its events went 15 at a time
    assert report.batches >= 2  # small runs weigh ~10 rows each: not all in one batch
    assert not RunEvent.objects.filter(run_id=big.pk).exists()
    assert report.events == all_events


def test_a_run_kept_meanwhile_is_not_deleted(team: Team) -> None:
    run = old_run(team)
    retention.set_kept(run, True)  # clicked between choosing the batch and deleting it
    report = retention.PurgeReport(cutoff=timezone.now() - AGE, dry_run=False)

    assert retention._delete_batch([run.pk], report.cutoff, report) is False
    assert exists(run)
    assert report.runs == 0


def test_a_dry_run_deletes_nothing_and_counts_what_would_go(team: Team) -> None:
    runs = [old_run(team) for _ in range(3)]
    old_run(team, days=1)
    before = (TestRun.objects.count(), StepRun.objects.count(), RunEvent.objects.count())
    events = RunEvent.objects.filter(run__in=runs).count()

    dry = retention.purge(AGE, dry_run=True)

    assert (TestRun.objects.count(), StepRun.objects.count(), RunEvent.objects.count()) == before
    assert (dry.runs, dry.steps, dry.events, dry.batches) == (3, 15, events, 1)
    real = retention.purge(AGE)
    assert (real.runs, real.steps, real.events) == (dry.runs, dry.steps, dry.events)


def test_old_suites_go_once_their_runs_are_gone(team: Team) -> None:
    long_ago = timezone.now() - timedelta(days=60)
    empty = TestSuiteRun.objects.create(project=team.project, status="passed", created_at=long_ago)
    with_pinned = TestSuiteRun.objects.create(
        project=team.project, status="failed", created_at=long_ago
    )
    pinned, other = old_run(team), old_run(team)
    retention.set_kept(pinned, True)
    TestRun.objects.filter(pk__in=[pinned.pk, other.pk]).update(suite=with_pinned)
    running = TestSuiteRun.objects.create(
        project=team.project, status="running", created_at=long_ago
    )
    in_running = old_run(team)
    TestRun.objects.filter(pk=in_running.pk).update(suite=running)

    dry = retention.purge(AGE, dry_run=True)
    report = retention.purge(AGE)

    assert dry.suites == report.suites == 1
    assert not TestSuiteRun.objects.filter(pk=empty.pk).exists()
    assert TestSuiteRun.objects.filter(pk=with_pinned.pk).exists()
    assert exists(pinned)
    assert not exists(other)
    assert TestSuiteRun.objects.filter(pk=running.pk).exists()
    assert exists(in_running)


# --- the command ----------------------------------------------------------------------


def test_the_command_prints_what_it_would_do_and_did(team: Team) -> None:
    run = old_run(team, days=10)
    out = StringIO()

    call_command("purge_test_runs", "--older-than", "7d", "--dry-run", stdout=out)
    assert "Would delete 1 test runs" in out.getvalue()
    assert exists(run)

    out = StringIO()
    call_command("purge_test_runs", "--older-than", "7d", stdout=out)
    assert "Deleted 1 test runs" in out.getvalue()
    assert "in 1 batch," in out.getvalue()
    assert not exists(run)


def test_the_command_defaults_to_the_retention_setting(team: Team, settings: object) -> None:
    run = old_run(team, days=10)
    call_command("purge_test_runs", stdout=StringIO())  # 30 days
    assert exists(run)
    settings.TEST_RUN_RETENTION_DAYS = 0  # type: ignore[attr-defined]
    with pytest.raises(CommandError, match="Retention is off"):
        call_command("purge_test_runs", stdout=StringIO())


@pytest.mark.parametrize("age", ["30x", "0d", "-1d", "d"])
def test_the_command_refuses_a_bad_age(db: None, age: str) -> None:
    with pytest.raises(CommandError, match="--older-than"):
        call_command("purge_test_runs", "--older-than", age, stdout=StringIO())


def test_ages() -> None:
    assert retention.parse_age("30d") == timedelta(days=30)
    assert retention.parse_age("12h") == timedelta(hours=12)
    assert retention.parse_age("90m") == timedelta(minutes=90)
    assert retention.parse_age("2w") == timedelta(weeks=2)
    assert retention.parse_age("5") == timedelta(days=5)


# --- the daily purge ------------------------------------------------------------------


@pytest.fixture
def no_daily_key() -> Iterator[None]:
    redis = django_rq.get_connection("testruns")
    redis.delete(retention.DAILY_KEY)
    retention._next_check = 0.0
    yield
    redis.delete(retention.DAILY_KEY)
    retention._next_check = 0.0


def test_one_claim_of_the_daily_purge_per_day(no_daily_key: None) -> None:
    assert retention.claim_daily_purge() is True
    assert retention.claim_daily_purge() is False  # another worker, the same day
    ttl = django_rq.get_connection("testruns").ttl(retention.DAILY_KEY)
    assert retention.DAY_SECONDS - 60 < ttl <= retention.DAY_SECONDS


@pytest.mark.django_db(transaction=True)
def test_the_sweepers_purge_once_a_day(team: Team, no_daily_key: None) -> None:
    run = old_run(team)

    thread = retention.purge_when_due()
    assert thread is not None
    thread.join(30)
    assert not exists(run)
    retention._next_check = 0.0
    assert retention.purge_when_due() is None  # claimed for today already


def test_no_daily_purge_when_retention_is_off(no_daily_key: None, settings: object) -> None:
    settings.TEST_RUN_RETENTION_DAYS = 0  # type: ignore[attr-defined]
    assert retention.purge_when_due() is None
    assert not django_rq.get_connection("testruns").exists(retention.DAILY_KEY)


# --- "Keep" ---------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "status"), [("owner", 302), ("editor", 302), ("viewer", 403),
                                             ("outsider", 404)])  # fmt: skip
def test_keep_on_the_run_page(team: Team, who: str, status: int) -> None:
    run = finished(make_run(team.workflow, team.owner))
    response = team.client(who).post(f"/test-runs/{run.id}/keep/")
    assert response.status_code == status
    run.refresh_from_db()
    assert run.kept is (status == 302)


def test_keep_and_unkeep_with_htmx_redraw_the_controls(team: Team) -> None:
    run = finished(make_run(team.workflow, team.owner))
    client = team.client("owner", htmx=True)

    kept = client.post(f"/test-runs/{run.id}/keep/")
    assert kept.status_code == 200
    assert 'id="run-controls"' in kept.content.decode()
    assert f"/test-runs/{run.id}/unkeep/" in kept.content.decode()
    run.refresh_from_db()
    assert run.kept

    client.post(f"/test-runs/{run.id}/unkeep/")
    run.refresh_from_db()
    assert not run.kept


def test_the_run_page_shows_keep_to_editors_and_kept_to_viewers(team: Team) -> None:
    run = finished(make_run(team.workflow, team.owner))
    page = team.client("owner").get(f"/test-runs/{run.id}/").content.decode()
    assert f"/test-runs/{run.id}/keep/" in page
    retention.set_kept(run, True)
    page = team.client("viewer").get(f"/test-runs/{run.id}/").content.decode()
    assert 'id="run-kept"' in page
    assert "/keep/" not in page


@pytest.mark.parametrize(("who", "status"), [("owner", 200), ("viewer", 403),
                                             ("outsider", 404)])  # fmt: skip
def test_keep_through_the_api(team: Team, who: str, status: int) -> None:
    run = finished(make_run(team.workflow, team.owner))
    client = team.bearer(team.user(who))

    response = send(client, "PATCH", f"/api/test-runs/{run.id}", {"kept": True})

    assert response.status_code == status
    if status == 200:
        assert response.data["kept"] is True
        assert send(client, "GET", f"/api/test-runs/{run.id}").data["kept"] is True
    run.refresh_from_db()
    assert run.kept is (status == 200)


def test_keep_through_the_api_takes_a_boolean_only(team: Team) -> None:
    run = finished(make_run(team.workflow, team.owner))
    client = team.bearer(team.owner)
    assert send(client, "PATCH", f"/api/test-runs/{run.id}", {"kept": "yes"}).status_code == 400
    response = send(client, "PATCH", f"/api/test-runs/{run.id}", {"kept": True, "status": "x"})
    assert response.status_code == 400
    assert response.data["errors"][0]["path"] == "status"


def test_a_pinned_run_survives_the_purge_until_unpinned(team: Team) -> None:
    run = old_run(team)
    send(team.bearer(team.owner), "PATCH", f"/api/test-runs/{run.id}", {"kept": True})
    assert retention.purge(AGE).runs == 0
    team.client("owner", htmx=True).post(f"/test-runs/{run.id}/unkeep/")
    assert retention.purge(AGE).runs == 1


def test_every_sweeper_asks_for_the_daily_purge(monkeypatch: pytest.MonkeyPatch) -> None:
    from testruns import sweep

    asked = threading.Event()
    monkeypatch.setattr(sweep, "sweep_stale_runs", dict)
    monkeypatch.setattr(retention, "purge_when_due", asked.set)

    stop = sweep.start_sweeper(0.01)
    try:
        assert asked.wait(5)
    finally:
        stop.set()
