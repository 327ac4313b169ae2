"""`manage.py seed_test_runs`: a history that the console, API and admin can page through."""

from __future__ import annotations

import random
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from meshhook.models import Project
from testruns.management.commands.seed_test_runs import Seeder, bulk_create_runs
from testruns.models import TERMINAL_STATUSES, TestRun
from testruns.queries import keyset_page, runs_for

pytestmark = pytest.mark.django_db


def test_seeds_finished_runs_newest_first_across_workflows() -> None:
    out = StringIO()
    call_command("seed_test_runs", runs=200, workflows=3, batch=70, user="seeder", stdout=out,
                 stderr=StringIO())  # fmt: skip
    assert "Seeded 200 runs over 3 workflows" in out.getvalue()
    user = User.objects.get(username="seeder")
    runs = runs_for(user)
    assert runs.count() == 200
    assert set(runs.values_list("status", flat=True)) <= set(TERMINAL_STATUSES)
    assert runs.values("workflow").distinct().count() == 3
    assert set(runs.values_list("environment_name", flat=True)) <= {"local", "ci", "staging"}
    for run in runs[:20]:
        assert run.completed_at is not None
        assert run.started_at is not None
        assert run.created_at < run.started_at < run.completed_at
        assert run.workflow_version.workflow_id == run.workflow_id
        assert run.finished_steps == run.total_steps == 5

    # The keyset pages of the history walk every run exactly once.
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(20):
        page, cursor = keyset_page(runs, cursor, 25)
        seen.extend(str(run.pk) for run in page)
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 200


def test_runs_again_add_older_history_to_the_same_project() -> None:
    call_command("seed_test_runs", runs=50, workflows=2, user="seeder", stderr=StringIO(),
                 stdout=StringIO())  # fmt: skip
    newest_first_batch = TestRun.objects.order_by("created_at").first()
    assert newest_first_batch is not None
    call_command("seed_test_runs", runs=50, workflows=2, user="seeder", stderr=StringIO(),
                 stdout=StringIO())  # fmt: skip
    project = Project.objects.get(personal_for__username="seeder")
    assert project.test_runs.count() == 100
    assert project.workflows.count() == 2  # the same workflows, not new versions
    assert project.test_runs.filter(created_at__lt=newest_first_batch.created_at).count() == 50


def test_bulk_create_fallback_on_any_database() -> None:
    user = User.objects.create_user("fallback")
    project = Project.objects.get(personal_for=user)
    seeder = Seeder(project, user, 2, random.Random(3))
    rows = [row for batch in seeder.batches(30, 7) for row in batch]
    assert bulk_create_runs(rows) == 30
    assert TestRun.objects.filter(project=project).count() == 30


def test_rejects_a_project_the_user_is_not_in() -> None:
    User.objects.create_user("other")
    with pytest.raises(CommandError, match="not a member"):
        call_command("seed_test_runs", runs=1, user="seeder", project="other",
                     stderr=StringIO(), stdout=StringIO())  # fmt: skip
