"""`python manage.py load_demo_cases`: the demo workflows' test cases (after `load_demo`).

Idempotent, like `load_demo`: `make run` calls both on every start."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from testruns.demo_cases import DemoMissing, load_demo_cases


class Command(BaseCommand):
    help = "Create or update the demo's test cases (one of them with a recorded baseline)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            cases = load_demo_cases(report=lambda line: self.stdout.write(f"  {line}"))
        except DemoMissing as missing:
            raise CommandError(str(missing)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(cases)} demo test cases ready; run them with "
                "`manage.py test_workflows --environment local --inline`."
            )
        )
