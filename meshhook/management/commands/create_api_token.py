"""`manage.py create_api_token <username> [--name NAME]`: print a new personal API token.

The raw token is printed once and never stored (only its hash is), so it goes to stdout
alone, ready for `TOKEN=$(python manage.py create_api_token ci-bot)`.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from meshhook.models import ApiToken

MAX_NAME_LENGTH = 80  # ApiToken.name


class Command(BaseCommand):
    help = "Create a personal API token for a user and print it (it is shown only once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="A label to tell tokens apart.")

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        try:
            user = user_model._default_manager.get_by_natural_key(options["username"])
        except user_model.DoesNotExist:
            raise CommandError(f"No user '{options['username']}'.") from None
        if not user.is_active:
            raise CommandError(f"User '{options['username']}' is inactive; a token would not work.")
        name = options["name"].strip() or f"CLI token {timezone.now():%Y-%m-%d %H:%M}"
        if len(name) > MAX_NAME_LENGTH:
            raise CommandError(f"The name is too long (max {MAX_NAME_LENGTH} characters).")
        token, raw = ApiToken.issue(user, name)
        self.stdout.write(raw)
        self.stderr.write(f"Token '{token.name}' ({token.prefix}…) for {user.get_username()}.")
