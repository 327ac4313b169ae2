"""Rows the benchmarks need, made through the project's own services where it matters."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from bench.definitions import PAYLOAD, transform_chain
from meshhook.models import Environment, Project, Workflow
from meshhook.services.workflows import save_definition
from testruns.models import RunStatus, TestRun
from testruns.parameters import RunParameters


@dataclass(frozen=True)
class Fixture:
    user: User
    project: Project
    environment: Environment
    workflow: Workflow

    def params(self) -> RunParameters:
        return RunParameters(payload=PAYLOAD, headers={}, environment=self.environment)


def make_fixture(steps: int = 9, slug: str = "bench-chain") -> Fixture:
    """A user (the sign-up signal gives them a project and a `local` environment) and a
    workflow of a trigger plus `steps` transforms."""
    user = User.objects.create_user(f"bench-{slug}")
    project = Project.objects.get(personal_for=user)
    environment = project.environments.get(name="local")
    workflow = save_definition(project, transform_chain(steps, slug), user=user).workflow
    return Fixture(user, project, environment, workflow)


def bare_run(fixture: Fixture) -> TestRun:
    """A queued run row without a job: for measuring what happens to a run's rows only."""
    return TestRun.objects.create(
        project=fixture.project,
        workflow=fixture.workflow,
        workflow_version=fixture.workflow.current_version(),
        environment=fixture.environment,
        environment_name=fixture.environment.name,
        payload=PAYLOAD,
        total_steps=10,
    )


def bulk_history(fixture: Fixture, count: int, *, batch: int = 2_000) -> None:
    """`count` finished runs, newest first about 2 minutes apart (~4 weeks for 20k).

    Gaps are random, and a few runs share a timestamp (a CI job starting a batch), so the
    keyset's `id` tie-breaker is exercised as it would be in real history.
    """
    rng = random.Random(20_000)  # fixed seed: the same history every time
    version = fixture.workflow.current_version()
    statuses = [RunStatus.PASSED] * 8 + [RunStatus.FAILED, RunStatus.ERROR]
    sources = [TestRun.Source.CONSOLE] * 3 + [TestRun.Source.API, TestRun.Source.CI]
    moment = timezone.now()
    rows: list[TestRun] = []
    for index in range(count):
        if rng.random() > 0.05:
            moment -= timedelta(seconds=rng.uniform(5, 235))
        duration = rng.randint(20, 4_000)
        status = rng.choice(statuses)
        rows.append(
            TestRun(
                project=fixture.project,
                workflow=fixture.workflow,
                workflow_version=version,
                environment=fixture.environment,
                environment_name=fixture.environment.name,
                status=status,
                source=rng.choice(sources),
                triggered_by=fixture.user,
                payload={"n": index},
                created_at=moment,
                started_at=moment + timedelta(milliseconds=15),
                completed_at=moment + timedelta(milliseconds=15 + duration),
                duration_ms=duration,
                total_steps=10,
                succeeded_count=10 if status == RunStatus.PASSED else 6,
                failed_count=0 if status == RunStatus.PASSED else 1,
                skipped_count=0 if status == RunStatus.PASSED else 3,
            )
        )
        if len(rows) == batch:
            TestRun.objects.bulk_create(rows)
            rows = []
    TestRun.objects.bulk_create(rows)
    if connection.vendor == "postgresql":
        # What autovacuum would have done to a live database by now; without statistics
        # the planner guesses badly for tables that went from empty to full in a second.
        # SQLite is left alone on purpose: Django never runs ANALYZE there, so a real
        # SQLite deployment has no statistics either.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
