"""Credential headers typed before they were stored encrypted (runs and test cases) are
encrypted now, with the same key and marker as new ones (testruns.parameters.seal_headers).
Values already encrypted are left as they are, so running this twice changes nothing."""

from typing import Any

from django.db import migrations

BATCH = 500


def encrypt_stored_credentials(apps: Any, schema_editor: Any) -> None:
    from meshhook.engine import is_sensitive_header
    from testruns.parameters import SEALED, seal_headers

    def needs_sealing(headers: Any) -> bool:
        return isinstance(headers, dict) and any(
            is_sensitive_header(name) and isinstance(value, str) and not value.startswith(SEALED)
            for name, value in headers.items()
        )

    for model_name in ("TestRun", "TestCase"):
        model = apps.get_model("testruns", model_name)
        rows = model.objects.exclude(headers={}).only("pk", "headers").iterator(BATCH)
        changed = []
        for row in rows:
            if needs_sealing(row.headers):
                row.headers = seal_headers(row.headers)
                changed.append(row)
            if len(changed) >= BATCH:
                model.objects.bulk_update(changed, ["headers"])
                changed = []
        if changed:
            model.objects.bulk_update(changed, ["headers"])


class Migration(migrations.Migration):
    dependencies = [
        ("testruns", "0007_run_stats_index"),
    ]

    operations = [
        migrations.RunPython(encrypt_stored_credentials, migrations.RunPython.noop, elidable=True),
    ]
