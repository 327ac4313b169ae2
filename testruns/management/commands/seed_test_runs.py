"""`manage.py seed_test_runs --runs 1000000 --workflows 50`: a large, realistic run history.

For measuring history pages, the API and admin at scale (see bench/), and for trying the
console against a database that looks a year old. Runs are finished (passed, failed,
error, cancelled), newest first about half a minute apart, spread over the project's
test environments, sources and workflows; they carry no steps or events.

On PostgreSQL the rows go in with COPY in batches (a million in a minute or two); other
databases get `bulk_create` in batches. Every concrete column of TestRun is written, from
its model default where the seed has no value of its own, so a new field with a default
needs no change here.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, models, transaction
from django.utils import timezone

from meshhook.models import Environment, Project
from meshhook.services.projects import ensure_personal_project, projects_for
from meshhook.services.workflows import save_definition
from testruns.models import RunStatus, TestRun

STATUSES = [RunStatus.PASSED] * 80 + [RunStatus.FAILED] * 12 + [RunStatus.CANCELLED] * 5
STATUSES += [RunStatus.ERROR] * 3
SOURCES = [TestRun.Source.CONSOLE] * 12 + [TestRun.Source.API] * 5 + [TestRun.Source.CI] * 3
EXTRA_ENVIRONMENTS = ("ci", "staging")
ENVIRONMENT_WEIGHTS = (7, 2, 1)  # local, ci, staging
STEPS_PER_WORKFLOW = 5


def seed_definition(index: int) -> dict[str, Any]:
    """A small valid workflow: a trigger and a few transforms (no HTTP)."""
    nodes: list[dict[str, Any]] = [{"id": "hook", "type": "webhook_trigger"}]
    nodes += [
        {"id": f"t{n}", "type": "transform", "config": {"expression": "body || @"}}
        for n in range(STEPS_PER_WORKFLOW - 1)
    ]
    ids = [node["id"] for node in nodes]
    return {
        "schema_version": 1,
        "name": f"Seeded workflow {index:02d}",
        "slug": f"seed-{index:02d}",
        "nodes": nodes,
        "edges": [{"source": a, "target": b} for a, b in pairwise(ids)],
    }


class Command(BaseCommand):
    help = "Insert a large history of finished test runs (for benchmarks and trials)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--runs", type=int, default=100_000)
        parser.add_argument("--workflows", type=int, default=50)
        parser.add_argument(
            "--user", default="seed", help="Owner of the history (created if missing)."
        )
        parser.add_argument("--project", help="Project slug (default: the user's first).")
        parser.add_argument("--batch", type=int, default=50_000, help="Rows per transaction.")
        parser.add_argument("--seed", type=int, default=1, help="Random seed (same shape).")

    def handle(self, *args: Any, **options: Any) -> None:
        runs, workflows, batch = options["runs"], options["workflows"], options["batch"]
        if runs < 0 or not 1 <= workflows <= 999 or batch < 1:
            raise CommandError("--runs ≥ 0, --workflows 1..999 and --batch ≥ 1, please.")
        started = time.monotonic()
        user = self._user(options["user"])
        project = self._project(user, options["project"])
        seeder = Seeder(project, user, workflows, random.Random(options["seed"]))
        written = 0
        for rows in seeder.batches(runs, batch):
            written += insert_runs(rows)
            self.stderr.write(f"\r{written:,} / {runs:,} runs", ending="")
            self.stderr.flush()
        if runs:
            self.stderr.write("")
        if connection.vendor == "postgresql":
            # What autovacuum would have done by now; the planner needs the statistics.
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {TestRun._meta.db_table}")
        seconds = time.monotonic() - started
        self.stdout.write(
            f"Seeded {written:,} runs over {workflows} workflows in project "
            f"'{project.slug}' in {seconds:.1f} s ({connection.vendor})."
        )

    @staticmethod
    def _user(username: str) -> Any:
        user_model = get_user_model()
        user, _ = user_model._default_manager.get_or_create(username=username)
        ensure_personal_project(user)
        return user

    @staticmethod
    def _project(user: Any, slug: str | None) -> Project:
        if slug:
            project = Project.objects.filter(slug=slug, memberships__user=user).first()
            if project is None:
                raise CommandError(f"'{user}' is not a member of a project '{slug}'.")
            return project
        project = projects_for(user).first()
        if project is None:
            raise CommandError(f"'{user}' has no project.")
        return project


class Seeder:
    """Makes the workflows and environments, then yields runs in batches, newest first."""

    def __init__(self, project: Project, user: Any, workflows: int, rng: random.Random) -> None:
        self.project, self.user, self.rng = project, user, rng
        self.workflows = [
            save_definition(project, seed_definition(n + 1), user=user) for n in range(workflows)
        ]
        self.environments = [project.environments.get_or_create(name="local")[0]]
        for name in EXTRA_ENVIRONMENTS:
            environment, _ = Environment.objects.get_or_create(
                project=project, name=name, defaults={"kind": Environment.Kind.TEST}
            )
            self.environments.append(environment)
        # Newer than every existing run of the project would be odd; older is history.
        oldest = TestRun.objects.filter(project=project).order_by("created_at").first()
        self.moment = oldest.created_at if oldest else timezone.now()

    def batches(self, runs: int, batch: int) -> Iterator[list[dict[str, Any]]]:
        rows: list[dict[str, Any]] = []
        for index in range(runs):
            rows.append(self.row(index))
            if len(rows) == batch:
                yield rows
                rows = []
        if rows:
            yield rows

    def row(self, index: int) -> dict[str, Any]:
        rng = self.rng
        if rng.random() > 0.05:  # a few share a timestamp, as a CI batch would
            self.moment -= timedelta(seconds=rng.uniform(1, 60))
        saved = self.workflows[index % len(self.workflows)]
        environment = rng.choices(self.environments, ENVIRONMENT_WEIGHTS)[0]
        status = rng.choice(STATUSES)
        source = rng.choice(SOURCES)
        duration = rng.randint(15, 4_000)
        created: datetime = self.moment
        passed = status == RunStatus.PASSED
        ran = STEPS_PER_WORKFLOW if passed else rng.randint(1, STEPS_PER_WORKFLOW - 1)
        return {
            "id": uuid.uuid4(),  # not from the seed: a second run adds to the history
            "project_id": self.project.pk,
            "workflow_id": saved.workflow.pk,
            "workflow_version_id": saved.version.pk,
            "environment_id": environment.pk,
            "environment_name": environment.name,
            "status": status,
            "source": source,
            "triggered_by_id": self.user.pk if source != TestRun.Source.CI else None,
            "payload": {"n": index, "email": f"user{index % 977}@example.com"},
            "created_at": created,
            "started_at": created + timedelta(milliseconds=12),
            "completed_at": created + timedelta(milliseconds=12 + duration),
            "duration_ms": duration,
            "error": "" if passed else f"step 't{ran - 1}' {status}: seeded history",
            "total_steps": STEPS_PER_WORKFLOW,
            "succeeded_count": ran if passed else ran - 1,
            "failed_count": 0 if passed else 1,
            "skipped_count": STEPS_PER_WORKFLOW - ran,
        }


def insert_runs(rows: list[dict[str, Any]]) -> int:
    if connection.vendor == "postgresql":
        return copy_runs(rows)
    return bulk_create_runs(rows)


def _fields() -> list[models.Field[Any, Any]]:
    return [f for f in TestRun._meta.concrete_fields if isinstance(f, models.Field)]


def bulk_create_runs(rows: list[dict[str, Any]], batch_size: int = 2_000) -> int:
    """Any database: the ORM's multi-row INSERT."""
    runs = [TestRun(**row) for row in rows]
    with transaction.atomic():
        TestRun.objects.bulk_create(runs, batch_size=batch_size)
    return len(runs)


def copy_runs(rows: list[dict[str, Any]]) -> int:
    """PostgreSQL: one COPY per batch, every column in text form."""
    fields = _fields()
    defaults = {field.attname: _default(field) for field in fields if field.attname not in rows[0]}
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    sql = f"COPY {connection.ops.quote_name(TestRun._meta.db_table)} ({columns}) FROM STDIN"
    json_columns = {field.attname for field in fields if isinstance(field, models.JSONField)}
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: Django's wrapper has no copy()
        with raw.copy(sql) as copy:
            for row in rows:
                values = []
                for field in fields:
                    name = field.attname
                    value = row[name] if name in row else defaults[name]
                    if name in json_columns and value is not None:
                        value = json.dumps(value)
                    values.append(value)
                copy.write_row(values)
    return len(rows)


def _default(field: models.Field[Any, Any]) -> Any:
    value = field.get_default()
    if isinstance(field, models.ForeignKey) and value in ("", None):
        return None
    return value
