"""`manage.py import_test_cases FILE ... [--project P] [--dry-run]`: read test-case files
written by export_test_cases (or the API) back; all files or none (testruns.case_files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from testruns.case_files import CaseFileError, ImportReport, import_cases
from testruns.management.projects import project_from_option


class Command(BaseCommand):
    help = "Create or update test cases from <slug>.test-cases.json files; all or nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+")
        parser.add_argument(
            "--project", help="The project (slug); needed when there is more than one."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check and report; write nothing."
        )

    def handle(
        self, *args: Any, files: list[str], project: str | None, dry_run: bool, **options: Any
    ) -> None:
        target = project_from_option(project)
        reports: list[ImportReport] = []
        with transaction.atomic():
            for name in files:
                document = self._read(Path(name))
                slug = document.get("workflow") if isinstance(document, dict) else None
                workflow = target.workflows.filter(slug=slug).first()
                if workflow is None:
                    raise CommandError(f"{name}: no workflow {slug!r} in project '{target.slug}'.")
                try:
                    reports.append(import_cases(workflow, document, dry_run=dry_run))
                except CaseFileError as error:
                    lines = "\n".join(f"  {p.path}: {p.message}" for p in error.problems)
                    raise CommandError(f"{name}: {error.message}\n{lines}") from None
        for name, report in zip(files, reports, strict=True):
            verb = "would be " if dry_run else ""
            self.stdout.write(
                f"{name} → {report.workflow}: {len(report.created)} {verb}created, "
                f"{len(report.updated)} {verb}updated, {len(report.unchanged)} unchanged"
            )
            for warning in report.warnings:
                self.stdout.write(self.style.WARNING(f"  {warning.path}: {warning.message}"))

    def _read(self, path: Path) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise CommandError(f"{path}: {error.strerror}.") from None
        except (ValueError, UnicodeDecodeError) as error:
            raise CommandError(f"{path}: not JSON ({error}).") from None
