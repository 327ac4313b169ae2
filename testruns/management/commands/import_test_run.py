"""`manage.py import_test_run FILE [--project P]`: store a run export read-only, as
`POST /api/test-runs/import` does, for exports over the API's body limit (testruns.imports)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from meshhook.problems import ProblemError
from testruns.imports import import_run
from testruns.management.projects import project_from_option
from testruns.serializers import run_page_path


class Command(BaseCommand):
    help = "Import a test-run export (GET /api/test-runs/<id>/export) as a read-only run."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument(
            "--project", help="The project (slug); needed when there is more than one."
        )

    def handle(self, *args: Any, file: str, project: str | None, **options: Any) -> None:
        target = project_from_option(project)
        try:
            document = json.loads(Path(file).read_text(encoding="utf-8"))
        except OSError as error:
            raise CommandError(f"{file}: {error.strerror}.") from None
        except (ValueError, UnicodeDecodeError) as error:
            raise CommandError(f"{file}: not JSON ({error}).") from None
        try:
            run = import_run(target, document)
        except ProblemError as error:
            lines = "\n".join(f"  {p.path}: {p.message}" for p in error.problems)
            raise CommandError(f"{file}: {error.message}\n{lines}") from None
        self.stdout.write(
            f"Imported run {run.imported_from or '(no id)'} as {run.id} "
            f"({run.workflow.slug} v{run.workflow_version.number}): {run_page_path(run.id)}"
        )
