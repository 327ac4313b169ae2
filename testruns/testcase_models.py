"""Test cases, the checks a test-case run is held to, and suites of runs (DESIGN §8).

Imported at the bottom of `testruns.models`, so `TestRun` can point at these by name.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from meshhook.engine import mask_headers
from meshhook.models import Project, Workflow
from testruns.models import TestRun


class TestCase(models.Model):
    """A saved, repeatable test of one workflow: the parameters of a run, plus what the run
    must show (assertions), optionally a run it must match (baseline) and a run whose
    recorded HTTP answers it replays instead of calling out."""

    # Not a pytest test class, despite the name.
    __test__ = False

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="test_cases")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    environment_name = models.CharField(max_length=64, default="local")
    mocks = models.JSONField(default=dict, blank=True)
    assertions = models.JSONField(default=list, blank=True)
    baseline_run = models.ForeignKey(
        TestRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Glob-ish paths (`steps.*.output.headers.date`) left out of the baseline comparison.
    volatile_paths = models.JSONField(default=list, blank=True)
    replay_from_run = models.ForeignKey(
        TestRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["workflow", "name"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "name"], name="unique_test_case_name")
        ]

    def __str__(self) -> str:
        return self.name

    def headers_for_engine(self) -> dict[str, Any]:
        """The headers with the real values of credentials (stored encrypted)."""
        from testruns.parameters import open_headers

        return open_headers(self.headers)

    def editable_fields(self) -> dict[str, Any]:
        """The fields a user writes (API, console), as the API shows them."""
        return {
            "name": self.name,
            "description": self.description,
            "payload": self.payload,
            "headers": mask_headers(self.headers),  # credentials stay encrypted at rest
            "environment": self.environment_name,
            "mocks": self.mocks,
            "assertions": self.assertions,
            "baseline_run": str(self.baseline_run_id) if self.baseline_run_id else None,
            "volatile_paths": self.volatile_paths,
            "replay_from_run": str(self.replay_from_run_id) if self.replay_from_run_id else None,
        }


class CaseRunSpec(models.Model):
    """What a test-case run is checked against, frozen when the run starts: editing the
    test case later does not change the verdict of a run already under way, as a run
    keeps the definition it ran. Also where a replay is recorded (`replayed_nodes`)."""

    run = models.OneToOneField(
        TestRun, primary_key=True, on_delete=models.CASCADE, related_name="case_spec"
    )
    assertions = models.JSONField(default=list, blank=True)
    baseline_run = models.ForeignKey(
        TestRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    volatile_paths = models.JSONField(default=list, blank=True)
    replay_from_run = models.ForeignKey(
        TestRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Node ids whose outputs were replayed from `replay_from_run` (mocked, no request sent).
    replayed_nodes = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"checks of {self.run_id}"


class SuiteStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"


SUITE_FINISHED = (SuiteStatus.PASSED, SuiteStatus.FAILED, SuiteStatus.ERROR)


class TestSuiteRun(models.Model):
    """Every test case in a scope (a workflow, or a whole project) run once, as ordinary
    runs on the queue; it ends when its last run ends."""

    __test__ = False

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="suite_runs")
    workflow = models.ForeignKey(
        Workflow, null=True, blank=True, on_delete=models.CASCADE, related_name="suite_runs"
    )
    # The environment every case ran on, when the suite overrode theirs; blank: their own.
    environment = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        max_length=10, choices=SuiteStatus.choices, default=SuiteStatus.QUEUED, db_index=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(
        max_length=8, choices=TestRun.Source.choices, default=TestRun.Source.API
    )
    total = models.PositiveIntegerField(default=0)
    passed_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    # Test cases that could not even start (their environment was deleted, a mocked node is
    # no longer in the workflow…): `{"test_case", "name", "workflow", "error"}` each.
    start_errors = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"suite {str(self.id)[:8]} {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in SUITE_FINISHED

    @property
    def pass_rate(self) -> float | None:
        """Passed / total, 0–1 (None for a suite with no test case)."""
        return round(self.passed_count / self.total, 4) if self.total else None
