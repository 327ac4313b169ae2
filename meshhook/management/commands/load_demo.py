"""`python manage.py load_demo`: the demo user, environments and workflows (idempotent)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from meshhook.demo import load_demo


class Command(BaseCommand):
    help = "Create or update the demo user (demo / demo), environments and workflows."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port",
            type=int,
            default=None,
            help=f"Port the sandbox is served on (default: PORT, now {settings.PORT}).",
        )

    def handle(self, *args: Any, port: int | None, **options: Any) -> None:
        project = load_demo(port, report=lambda line: self.stdout.write(f"  {line}"))
        self.stdout.write(
            self.style.SUCCESS(f"Demo ready in project {project.slug!r}. Log in as demo / demo.")
        )
