"""`manage.py export_test_cases [slug ...] [--project P] [--dir DIR] [--credentials masked]`:
each workflow's test cases as `<slug>.test-cases.json`, to keep in git (testruns.case_files).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from meshhook.models import Project, Workflow
from testruns.case_files import export_text


class Command(BaseCommand):
    help = "Write each workflow's test cases to <dir>/<slug>.test-cases.json."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slugs", nargs="*", help="Workflows (default: all).")
        parser.add_argument(
            "--project", help="Only this project (slug); without it, one folder per project."
        )
        parser.add_argument("--dir", default=".", help="Where to write (default: here).")
        parser.add_argument(
            "--credentials",
            choices=("masked", "encrypted"),
            default="masked",
            help="Credential headers as the mask (default) or encrypted with this "
            "deployment's SECRETS_ENCRYPTION_KEY.",
        )

    def handle(
        self,
        *args: Any,
        slugs: list[str],
        project: str | None,
        dir: str,
        credentials: str,
        **options: Any,
    ) -> None:
        workflows = Workflow.objects.select_related("project").order_by("project__slug", "slug")
        if project is not None:
            if not Project.objects.filter(slug=project).exists():
                raise CommandError(f"No project '{project}'.")
            workflows = workflows.filter(project__slug=project)
        if slugs:
            workflows = workflows.filter(slug__in=slugs)
            missing = set(slugs) - {workflow.slug for workflow in workflows}
            if missing:
                raise CommandError(f"No workflow {', '.join(sorted(missing))}.")
        root = Path(dir)
        for workflow in workflows:
            folder = root if project is not None else root / workflow.project.slug
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{workflow.slug}.test-cases.json"
            sealed = credentials == "encrypted"
            path.write_text(export_text(workflow, credentials="encrypted" if sealed else "masked"))
            count = workflow.test_cases.count()
            self.stdout.write(f"{path}: {count} test case{'s' if count != 1 else ''}")
