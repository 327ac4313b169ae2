"""System checks that explain bad configuration in one line each."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.compatibility)
def check_configuration(app_configs: Any = None, **_: Any) -> list[Any]:
    problems: list[Any] = []
    if not settings.REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
        problems.append(
            Error(
                f"REDIS_URL={settings.REDIS_URL!r} must start with redis://, rediss:// or unix://.",
                id="meshhook.E001",
            )
        )
    engine = settings.DATABASES["default"]["ENGINE"]
    if not engine.endswith(("sqlite3", "postgresql")):
        problems.append(
            Error(
                f"DATABASE_URL selects {engine}; MeshHook supports PostgreSQL and SQLite.",
                id="meshhook.E002",
            )
        )
    if not settings.DEBUG and engine.endswith("sqlite3"):
        problems.append(
            Warning(
                "DEBUG is off but the database is SQLite; set DATABASE_URL to PostgreSQL "
                "for anything beyond a single-machine trial.",
                id="meshhook.W001",
            )
        )
    if settings.SANDBOX_ENABLED and not settings.DEBUG:
        problems.append(
            Warning(
                "SANDBOX_ENABLED is on while DEBUG is off: /sandbox/ (echo, delays, fake "
                "APIs) answers anyone without a login.",
                hint="Unset SANDBOX_ENABLED unless this server is only for trials.",
                id="meshhook.W002",
            )
        )
    return problems
