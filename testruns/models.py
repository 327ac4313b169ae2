"""Test runs, their steps and their append-only event log (DESIGN §3)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any, Literal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from meshhook.models import Environment, Project, Workflow, WorkflowVersion


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    PASSED = "passed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ERROR = "error"


RunStatusValue = Literal["queued", "running", "paused", "passed", "failed", "cancelled", "error"]
StepStatusValue = Literal["pending", "running", "succeeded", "failed", "skipped"]
EventType = Literal[
    "run_queued",
    "run_started",
    "step_started",
    "http_attempt",
    "step_succeeded",
    "step_failed",
    "step_skipped",
    "log",
    "run_paused",
    "run_resumed",
    "run_finished",
]
EventLevel = Literal["debug", "info", "warning", "error"]

# The parameters a run is started with (form, API, re-run, export): one list for all.
PARAMETER_NAMES = (
    "payload",
    "headers",
    "environment",
    "mode",
    "breakpoints",
    "mocks",
    "honor_delays",
)

ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PAUSED)
TERMINAL_STATUSES = (RunStatus.PASSED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.ERROR)


class StepStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class TestRun(models.Model):
    class Mode(models.TextChoices):
        AUTO = "auto", "Run all"
        STEP = "step", "Step-by-step"

    class Source(models.TextChoices):
        CONSOLE = "console"
        API = "api"
        CLI = "cli"
        CI = "ci"

    # Not a pytest test class, despite the name.
    __test__ = False

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="test_runs")
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="test_runs")
    workflow_version = models.ForeignKey(
        WorkflowVersion, on_delete=models.PROTECT, related_name="test_runs"
    )
    environment = models.ForeignKey(
        Environment, null=True, blank=True, on_delete=models.SET_NULL, related_name="test_runs"
    )
    # Kept as text so history still reads right after an environment is renamed or deleted.
    environment_name = models.CharField(max_length=64)
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.AUTO)
    status = models.CharField(
        max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True
    )

    # Parameters, as the user gave them.
    payload = models.JSONField(default=dict, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    breakpoints = models.JSONField(default=list, blank=True)
    mocks = models.JSONField(default=dict, blank=True)
    honor_delays = models.BooleanField(default=False)

    # Who started it and how.
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.CONSOLE)

    # Re-runs: where this run came from and which steps it reused instead of executing.
    source_run = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns"
    )
    from_step = models.CharField(max_length=64, blank=True)
    # "Test this step": the run executes only this node, with the source run's other
    # outputs as its context.
    only_node = models.CharField(max_length=64, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)

    total_steps = models.PositiveIntegerField(default=0)
    succeeded_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)

    # Step-mode control, written by advance/continue and read by the worker.
    paused_before = models.CharField(max_length=64, blank=True)
    steps_to_run = models.IntegerField(null=True, blank=True)  # None: until done/breakpoint
    release_node = models.CharField(max_length=64, blank=True)  # may run past its breakpoint
    run_until = models.CharField(max_length=64, blank=True)  # "Run to here": a one-off stop
    # Time spent paused, so debugging at a human pace does not use up the run timeout.
    paused_ms = models.PositiveBigIntegerField(default=0)
    input_overrides = models.JSONField(default=dict, blank=True)  # node id → input

    last_seq = models.PositiveIntegerField(default=0)
    # Fencing for drivers: each claim of the run raises it, and a driver's writes are
    # conditional on the lease it claimed, so a worker thought lost cannot write late.
    lease = models.PositiveIntegerField(default=0)
    # How often the run was taken over after its worker was lost (see sweep.py).
    resumes = models.PositiveSmallIntegerField(default=0)

    # Test cases and suites (testruns.testcase_models): the case this run checks, the suite
    # it belongs to, and each assertion's outcome, written once when the run ends.
    test_case = models.ForeignKey(
        "testruns.TestCase", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    suite = models.ForeignKey(
        "testruns.TestSuiteRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runs",
    )
    assertion_results = models.JSONField(default=list, blank=True)

    # Retention (testruns.retention): a run a user pinned with "Keep" is never purged.
    kept = models.BooleanField(default=False)
    # A run imported from another deployment's export (testruns.imports): read-only, and
    # its original id, which stays in the other deployment.
    imported_at = models.DateTimeField(null=True, blank=True)
    imported_from = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # With the status and duration, a workflow's newest runs are an index-only scan
            # for its statistics (testruns.stats).
            models.Index(
                fields=["workflow", "-created_at", "-id", "status", "duration_ms"],
                name="run_by_workflow",
            ),
            models.Index(fields=["project", "-created_at", "-id"], name="run_by_project"),
            models.Index(fields=["status", "-created_at"], name="run_by_status"),
            models.Index(fields=["environment_name", "-created_at"], name="run_by_environment"),
            models.Index(fields=["-created_at", "-id"], name="run_newest_first"),
        ]

    def __str__(self) -> str:
        return f"{self.short_id} {self.workflow.slug} {self.status}"

    @property
    def short_id(self) -> str:
        return str(self.id)[:8]

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def is_imported(self) -> bool:
        return self.imported_at is not None

    @property
    def finished_steps(self) -> int:
        return self.succeeded_count + self.failed_count + self.skipped_count

    @property
    def parameters(self) -> dict[str, Any]:
        """The run's parameters by PARAMETER_NAMES (the environment by name), the headers as
        stored: credential values encrypted (see headers_for_engine)."""
        values = {name: getattr(self, name) for name in PARAMETER_NAMES if name != "environment"}
        return {**values, "environment": self.environment_name}

    @property
    def shown_parameters(self) -> dict[str, Any]:
        """The parameters as pages, the API and exports show them: credentials in headers
        masked. The stored headers keep their values, so a re-run sends the same request."""
        return {**self.parameters, "headers": self.headers_shown()}

    def headers_for_engine(self) -> dict[str, str]:
        """The headers with the real values of credentials (stored encrypted): for the
        engine and for re-runs, never to be shown."""
        from testruns.parameters import open_headers

        return open_headers(self.headers)

    def headers_shown(self) -> dict[str, str]:
        """The headers as everyone sees them: credentials as the mask, which the Test-run
        form and a re-run read as "keep the stored value"."""
        from meshhook.engine import mask_headers

        return mask_headers(self.headers)

    @property
    def triggered_by_label(self) -> str:
        """Who started the run, as DESIGN §3 names it everywhere (page, API, admin): the
        user for a console run, else the source (`api`, `cli`, `ci`)."""
        if self.source == self.Source.CONSOLE and self.triggered_by is not None:
            return self.triggered_by.get_username()
        return str(self.source)


def _execution_key(step: StepRun) -> tuple[bool, int, int]:
    return (step.position is None, step.position or 0, step.definition_index)


class StepRunQuerySet(models.QuerySet["StepRun"]):
    def in_run_order(self) -> list[StepRun]:
        """The one order every view of a run lists its steps in (page, API, export, compare).

        Steps that ran (or are running) in execution order, then the rest in definition
        order. A loop's body follows the loop, iteration by iteration (`a[0], b[0], a[1],
        b[1]`). The per-node row created when the run was queued stands in for a body node
        only until its iterations exist, so it is never listed twice.
        """
        rows = list(self)
        top_level = [row for row in rows if not row.parent_node_id]
        body: dict[str, list[StepRun]] = defaultdict(list)
        for row in rows:
            if row.parent_node_id:
                body[row.parent_node_id].append(row)
        top_level.sort(key=_execution_key)
        ordered: list[StepRun] = []
        listed: set[int] = set()
        for row in top_level:
            ordered.append(row)
            listed.add(row.pk)
            children = body.get(row.node_id, [])
            iterated = {child.node_id for child in children if child.iteration is not None}
            shown = [c for c in children if c.iteration is not None or c.node_id not in iterated]
            shown.sort(key=lambda c: (c.iteration is None, c.iteration or 0, *_execution_key(c)))
            ordered.extend(shown)
            listed.update(child.pk for child in children)
        # Body rows whose loop row is missing (should not happen) are still shown, last.
        ordered.extend(row for row in sorted(rows, key=_execution_key) if row.pk not in listed)
        return ordered


class StepRun(models.Model):
    """One node of one run; loop body nodes get one row per iteration."""

    run = models.ForeignKey(TestRun, on_delete=models.CASCADE, related_name="steps")
    node_id = models.CharField(max_length=64)
    iteration = models.PositiveIntegerField(null=True, blank=True)
    parent_node_id = models.CharField(max_length=64, blank=True)
    node_type = models.CharField(max_length=32)
    label = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=StepStatus.choices, default=StepStatus.PENDING)
    mocked = models.BooleanField(default=False)
    reused = models.BooleanField(default=False)  # copied from the source run of a re-run
    input_overridden = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0)
    input = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    resolved_config = models.JSONField(null=True, blank=True)
    http = models.JSONField(default=list, blank=True)  # request/response exchanges, masked
    branch = models.BooleanField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # Order of execution (null while pending) and position in the definition.
    position = models.PositiveIntegerField(null=True, blank=True)
    definition_index = models.PositiveIntegerField(default=0)

    objects = StepRunQuerySet.as_manager()

    class Meta:
        ordering = ["run", "position", "definition_index", "iteration"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "node_id"],
                condition=Q(iteration__isnull=True),
                name="unique_step_per_run",
            ),
            models.UniqueConstraint(
                fields=["run", "node_id", "iteration"],
                condition=Q(iteration__isnull=False),
                name="unique_iteration_step_per_run",
            ),
        ]
        # The run page of a big loop reads top-level steps and per-loop counts of 20,000 rows.
        indexes = [
            models.Index(fields=["run", "parent_node_id", "iteration"], name="step_by_parent"),
        ]

    def __str__(self) -> str:
        suffix = f"[{self.iteration}]" if self.iteration is not None else ""
        return f"{self.node_id}{suffix} {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED)

    @property
    def display_status(self) -> str:
        """The status a user sees: a mocked success is its own colour, and the step a
        cancel interrupted is grey "cancelled", not red "failed" (it is stored as failed)."""
        if self.status == StepStatus.SUCCEEDED and self.mocked:
            return "mocked"
        if (
            self.status == StepStatus.FAILED
            # The error testruns.services.cancel_run gives the step it interrupts.
            and self.error == "Cancelled while running."
            and self.run.status == RunStatus.CANCELLED
        ):
            return "cancelled"
        return self.status


class RunEvent(models.Model):
    """The append-only log of a run; `seq` is dense and per run, the live view's cursor."""

    class Type(models.TextChoices):
        RUN_QUEUED = "run_queued"
        RUN_STARTED = "run_started"
        STEP_STARTED = "step_started"
        HTTP_ATTEMPT = "http_attempt"
        STEP_SUCCEEDED = "step_succeeded"
        STEP_FAILED = "step_failed"
        STEP_SKIPPED = "step_skipped"
        LOG = "log"
        RUN_PAUSED = "run_paused"
        RUN_RESUMED = "run_resumed"
        RUN_FINISHED = "run_finished"

    class Level(models.TextChoices):
        DEBUG = "debug"
        INFO = "info"
        WARNING = "warning"
        ERROR = "error"

    run = models.ForeignKey(TestRun, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    ts = models.DateTimeField(default=timezone.now)
    type = models.CharField(max_length=20, choices=Type.choices)
    node_id = models.CharField(max_length=64, blank=True)
    iteration = models.PositiveIntegerField(null=True, blank=True)
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.INFO)
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="unique_event_seq")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.type}"


# Test cases and suites live in their own module; imported here so Django sees the models.
from testruns import testcase_models  # noqa: E402, F401
