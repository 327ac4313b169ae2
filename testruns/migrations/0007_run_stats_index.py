"""The workflow index also holds each run's status and duration, so the statistics of a
workflow's newest runs (testruns.stats) are read from the index alone."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("testruns", "0006_retention_and_imports"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="testrun",
            name="run_by_workflow",
        ),
        migrations.AddIndex(
            model_name="testrun",
            index=models.Index(
                fields=["workflow", "-created_at", "-id", "status", "duration_ms"],
                name="run_by_workflow",
            ),
        ),
    ]
