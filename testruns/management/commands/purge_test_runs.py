"""`manage.py purge_test_runs [--older-than 30d] [--dry-run]`: delete old finished test runs.

What stays, and how the deleting is batched, is testruns.retention's; the workers run the
same purge once a day with TEST_RUN_RETENTION_DAYS.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from testruns import retention


class Command(BaseCommand):
    help = (
        "Delete finished test runs older than the retention (TEST_RUN_RETENTION_DAYS), with "
        "their steps and events, in batches; pinned, baseline and suite runs stay."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            help="An age like 30d, 12h, 90m or 2w (default: TEST_RUN_RETENTION_DAYS days).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would go; delete nothing."
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=retention.BATCH_RUNS,
            help=f"Runs per transaction (default {retention.BATCH_RUNS}).",
        )

    def handle(
        self, *args: Any, older_than: str | None, dry_run: bool, batch_size: int, **options: Any
    ) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if older_than is not None:
            try:
                age = retention.parse_age(older_than)
            except ValueError as error:
                raise CommandError(f"--older-than: {error}") from None
        elif settings.TEST_RUN_RETENTION_DAYS > 0:
            age = timedelta(days=settings.TEST_RUN_RETENTION_DAYS)
        else:
            raise CommandError(
                "Retention is off (TEST_RUN_RETENTION_DAYS=0); say how old with --older-than."
            )

        def progress(report: retention.PurgeReport) -> None:
            if report.batches % 10 == 0:
                self.stdout.write(f"  … {report.runs:,} runs deleted so far")

        report = retention.purge(
            age, dry_run=dry_run, batch_runs=batch_size, progress=None if dry_run else progress
        )
        self.stdout.write(report.summary())
        self.stdout.write(report.kept_summary())
