"""Port-less loopback allowlist entries (`127.0.0.1`, `localhost`, the old default of the
`local` environment) let a test run reach every service on the host; the policy now refuses
them. Replace them with this server's sandbox origin, the one port they were meant for."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import migrations

LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


def pin_loopback_entries(apps: Any, schema_editor: Any) -> None:
    environment_model = apps.get_model("meshhook", "Environment")
    sandbox = f"127.0.0.1:{settings.PORT}"
    for environment in environment_model.objects.all():
        hosts = list(environment.allowed_hosts or [])
        if not LOOPBACK & set(hosts):
            continue
        pinned = [host for host in hosts if host not in LOOPBACK]
        if sandbox not in pinned:
            pinned.append(sandbox)
        environment.allowed_hosts = pinned
        environment.save(update_fields=["allowed_hosts"])


class Migration(migrations.Migration):
    dependencies = [("meshhook", "0001_initial")]
    operations = [migrations.RunPython(pin_loopback_entries, migrations.RunPython.noop)]
