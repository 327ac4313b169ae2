"""The RQ job that drives a test run: plan → (pause?) → execute one step → persist → repeat.

The job takes a run id, never an object. It writes the database first and only then
broadcasts. It holds no transaction while a step executes and returns as soon as the run
pauses, so a paused run costs no worker.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import timedelta
from typing import Any

from django.db import close_old_connections, connection, transaction
from django.db.models import Max
from django.utils import timezone

from meshhook.engine import (
    NO_OVERRIDE,
    EngineEvent,
    ExecutionContext,
    Plan,
    RunInput,
    RunResult,
    RunState,
    StepRecord,
    Workflow,
    execute_step,
    parse_definition,
    plan_next,
    preview_step,
)
from testruns.eventlog import NewEvent, append_events
from testruns.models import ACTIVE_STATUSES, RunStatus, StepRun, StepStatus, TestRun
from testruns.outbound import TestRunPolicy
from testruns.services import refresh_summary

logger = logging.getLogger(__name__)

RESULT_STATUS = {
    "passed": RunStatus.PASSED,
    "failed": RunStatus.FAILED,
    "cancelled": RunStatus.CANCELLED,
}
LIVE_EVENT_TYPES = {"step_started", "http_attempt", "step_succeeded", "step_failed"}
LOG_FLUSH_SECONDS = 0.1
LOG_FLUSH_LINES = 50
STOP_POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 10.0


@contextmanager
def heartbeat(run_id: uuid.UUID, interval: float = HEARTBEAT_SECONDS) -> Iterator[None]:
    """Keep the run's heartbeat fresh while a long step (delay, retries) executes."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(interval):
                TestRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
                    heartbeat_at=timezone.now()
                )
        finally:
            connection.close()

    thread = threading.Thread(target=beat, daemon=True, name=f"heartbeat-{str(run_id)[:8]}")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def drive_run(run_id: str) -> None:
    close_old_connections()
    try:
        RunDriver(run_id).drive()
    except Exception as exc:  # an engine or infrastructure bug must not strand the run
        logger.exception("Test run %s crashed", run_id)
        finish_with_error(run_id, f"Internal error: {type(exc).__name__}: {exc}")
    finally:
        close_old_connections()


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def jsonable(value: Any) -> Any:
    """Engine values as plain JSON (dataclasses, mappings, tuples…) for JSONField columns."""
    return json.loads(json.dumps(value, default=_plain))


def finish_with_error(run_id: uuid.UUID | str, message: str) -> None:
    now = timezone.now()
    with transaction.atomic():
        changed = TestRun.objects.filter(pk=run_id, status__in=ACTIVE_STATUSES).update(
            status=RunStatus.ERROR, error=message, completed_at=now
        )
        if changed:
            run = TestRun.objects.get(pk=run_id)
            run.steps.filter(status__in=[StepStatus.PENDING, StepStatus.RUNNING]).update(
                status=StepStatus.SKIPPED
            )
            _store_duration(run)
            refresh_summary(run)
            append_events(
                run_id, [NewEvent("run_finished", message, level="error", data={"status": "error"})]
            )


def _store_duration(run: TestRun) -> None:
    run.refresh_from_db(fields=["started_at", "completed_at"])
    if run.started_at and run.completed_at:
        millis = int((run.completed_at - run.started_at).total_seconds() * 1000)
        TestRun.objects.filter(pk=run.pk).update(duration_ms=max(0, millis))


class RunDriver:
    def __init__(self, run_id: str) -> None:
        self.run_id = uuid.UUID(run_id)
        self.run = TestRun.objects.select_related("workflow_version", "environment").get(pk=run_id)
        self.workflow: Workflow = parse_definition(self.run.workflow_version.definition)
        self._log_buffer: list[NewEvent] = []
        self._last_flush = time.monotonic()
        self._stop_checked_at = 0.0
        self._stopped = False
        self._final_events: list[NewEvent] = []

    # -- the loop ---------------------------------------------------------------------
    def drive(self) -> None:
        if not self._claim():
            return
        run_input = self._run_input()
        if self.run.only_node:
            self._drive_single_step(run_input)
            return
        while True:
            self.run.refresh_from_db()
            if self.run.status != RunStatus.RUNNING:
                return  # cancelled or swept while we were busy
            if self._timed_out():
                finish_with_error(self.run_id, self._timeout_message())
                return
            state = self._state(run_input)
            plan: Plan = plan_next(self.workflow, state)
            if plan.skip:
                self._record_skipped(plan.skip, run_ended=plan.finished is not None)
            if plan.finished is not None:
                self._finish(plan.finished)
                return
            node_id = plan.next_node
            assert node_id is not None
            if self._should_pause(node_id):
                self._pause(node_id, state)
                return
            self._execute(node_id, state)

    def _claim(self) -> bool:
        now = timezone.now()
        started = TestRun.objects.filter(pk=self.run_id, status=RunStatus.QUEUED).update(
            status=RunStatus.RUNNING, started_at=now, heartbeat_at=now
        )
        if started:
            mode = "step-by-step" if self.run.mode == TestRun.Mode.STEP else "run all"
            append_events(self.run_id, [NewEvent("run_started", f"Test run started ({mode}).")])
            return True
        # A resumed run (advance/continue) is already `running`.
        return bool(
            TestRun.objects.filter(pk=self.run_id, status=RunStatus.RUNNING).update(
                heartbeat_at=now
            )
        )

    def _run_input(self) -> RunInput:
        environment = self.run.environment
        variables = dict(environment.variables) if environment and environment.is_test else {}
        secrets = environment.secrets_for_test_run() if environment else {}
        return RunInput(
            payload=self.run.payload,
            headers=dict(self.run.headers),
            query={},
            env=variables,
            secrets=secrets,
            run_id=str(self.run.id),
            environment=self.run.environment_name,
        )

    def _drive_single_step(self, run_input: RunInput) -> None:
        """Execute only `only_node`; the source run's other steps are its context."""
        node_id = self.run.only_node
        context = self._state(run_input, self.run.source_run) if self.run.source_run else None
        steps = {k: v for k, v in (context.steps if context else {}).items() if k != node_id}
        self._execute(node_id, RunState(run=run_input, steps=steps))
        step = self.run.steps.get(node_id=node_id, iteration__isnull=True)
        passed = step.status == StepStatus.SUCCEEDED
        self._finish(
            RunResult(
                status="passed" if passed else "failed",
                reason=None if passed else f"step '{node_id}' failed: {step.error}",
                output=step.output,
                failed_node=None if passed else node_id,
            )
        )

    def _state(self, run_input: RunInput, run: TestRun | None = None) -> RunState:
        records: dict[str, StepRecord] = {}
        steps = (run or self.run).steps.filter(
            iteration__isnull=True,
            parent_node_id="",
            status__in=[StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED],
        )
        for step in steps:
            node = self.workflow.node(step.node_id)
            terminate = None
            if node.type == "terminate" and step.status == StepStatus.SUCCEEDED:
                status = str(node.config.get("status", "success"))
                terminate = RunResult(
                    status={"success": "passed", "failure": "failed"}.get(status, "cancelled"),  # type: ignore[arg-type]
                    reason=node.config.get("reason"),
                    output=step.output,
                    failed_node=None,
                )
            records[step.node_id] = StepRecord(
                status=step.status,  # type: ignore[arg-type]
                output=step.output,
                error=step.error or None,
                branch=step.branch,
                terminate=terminate,
                on_error_tolerated=step.status == StepStatus.FAILED and node.on_error == "continue",
            )
        return RunState(run=run_input, steps=records)

    def _timed_out(self) -> bool:
        started = self.run.started_at
        if started is None:
            return False
        return timezone.now() > started + timedelta(
            milliseconds=self.workflow.settings.run_timeout_ms
        )

    def _timeout_message(self) -> str:
        return f"The run timed out after {self.workflow.settings.run_timeout_ms:,} ms."

    def _should_pause(self, node_id: str) -> bool:
        if node_id == self.run.release_node:
            return False
        return self.run.steps_to_run == 0 or node_id in self.run.breakpoints

    # -- transitions ------------------------------------------------------------------
    def _record_skipped(self, node_ids: tuple[str, ...], *, run_ended: bool) -> None:
        why = "the run ended before it" if run_ended else "no taken edge leads to it"
        with transaction.atomic():
            StepRun.objects.filter(
                run_id=self.run_id, node_id__in=node_ids, status=StepStatus.PENDING
            ).update(status=StepStatus.SKIPPED)
            refresh_summary(self.run)
            append_events(
                self.run_id,
                [
                    NewEvent(
                        "step_skipped",
                        f"Skipped '{node_id}': {why}.",
                        node_id=node_id,
                        level="debug",
                    )
                    for node_id in node_ids
                ],
            )

    def _pause(self, node_id: str, state: RunState) -> None:
        preview = preview_step(self.workflow, node_id, state, self._context(node_id))
        with transaction.atomic():
            paused = TestRun.objects.filter(pk=self.run_id, status=RunStatus.RUNNING).update(
                status=RunStatus.PAUSED,
                paused_before=node_id,
                heartbeat_at=timezone.now(),
                release_node="",
            )
            if not paused:
                return
            StepRun.objects.filter(
                run_id=self.run_id,
                node_id=node_id,
                iteration__isnull=True,
                status=StepStatus.PENDING,
            ).update(
                input=jsonable(preview.input), resolved_config=jsonable(preview.resolved_config)
            )
            reason = "breakpoint" if node_id in self.run.breakpoints else "step mode"
            label = self.workflow.node(node_id).label
            append_events(
                self.run_id,
                [
                    NewEvent(
                        "run_paused",
                        f"Paused before '{label}' ({reason}).",
                        node_id=node_id,
                        data={
                            "next_node": node_id,
                            "reason": reason,
                            "preview_error": preview.error,
                        },
                    )
                ],
            )

    def _finish(self, result: RunResult) -> None:
        status = RESULT_STATUS[result.status]
        now = timezone.now()
        with transaction.atomic():
            changed = TestRun.objects.filter(pk=self.run_id, status=RunStatus.RUNNING).update(
                status=status,
                completed_at=now,
                result=jsonable(result.output),
                error=result.reason or "" if status != RunStatus.PASSED else "",
                paused_before="",
            )
            if not changed:
                return
            _store_duration(self.run)
            refresh_summary(self.run)
            words = {
                RunStatus.PASSED: "passed",
                RunStatus.FAILED: "failed",
                RunStatus.CANCELLED: "was cancelled",
            }[status]
            message = f"Test run {words}" + (f": {result.reason}" if result.reason else ".")
            level = {RunStatus.PASSED: "info", RunStatus.FAILED: "error"}.get(status, "warning")
            append_events(
                self.run_id,
                [NewEvent("run_finished", message, level=level, data={"status": status})],
            )

    # -- one step -----------------------------------------------------------------------
    def _context(self, node_id: str) -> ExecutionContext:
        environment = self.run.environment
        policy = TestRunPolicy(
            run_id=str(self.run.id),
            environment=self.run.environment_name,
            allowed_hosts=list(environment.allowed_hosts) if environment else [],
            allow_private_network=bool(environment and environment.allow_private_network),
        )
        started = self.run.started_at or timezone.now()
        remaining = (
            started + timedelta(milliseconds=self.workflow.settings.run_timeout_ms) - timezone.now()
        ).total_seconds()
        return ExecutionContext(
            policy=policy,
            honor_delays=self.run.honor_delays,
            mocks=self.run.mocks,
            input_override=self.run.input_overrides.get(node_id, NO_OVERRIDE),
            emit=self._on_event,
            deadline=time.monotonic() + remaining,
            should_stop=self._should_stop,
        )

    def _execute(self, node_id: str, state: RunState) -> None:
        self._current_node = node_id
        now = timezone.now()
        with transaction.atomic():
            position = (self.run.steps.aggregate(top=Max("position"))["top"] or 0) + 1
            StepRun.objects.filter(
                run_id=self.run_id, node_id=node_id, iteration__isnull=True
            ).update(status=StepStatus.RUNNING, started_at=now, position=position)
            TestRun.objects.filter(pk=self.run_id).update(heartbeat_at=now)
        self._final_events = []
        with heartbeat(self.run_id):
            outcome = execute_step(self.workflow, node_id, state, self._context(node_id))
        finished = timezone.now()
        with transaction.atomic():
            if TestRun.objects.filter(pk=self.run_id, status=RunStatus.RUNNING).exists():
                StepRun.objects.filter(
                    run_id=self.run_id,
                    node_id=node_id,
                    iteration__isnull=True,
                    status=StepStatus.RUNNING,
                ).update(
                    status=outcome.status,
                    input=jsonable(outcome.input),
                    output=jsonable(outcome.output),
                    error=outcome.error or "",
                    attempts=outcome.attempts,
                    mocked=outcome.mocked,
                    duration_ms=outcome.duration_ms,
                    resolved_config=jsonable(outcome.resolved_config),
                    http=jsonable(list(outcome.http)),
                    branch=outcome.branch,
                    completed_at=finished,
                    input_overridden=node_id in self.run.input_overrides,
                )
                if outcome.iterations:
                    self._store_iterations(node_id, outcome, position)
                steps_left = self.run.steps_to_run
                TestRun.objects.filter(pk=self.run_id).update(
                    heartbeat_at=finished,
                    release_node="",
                    steps_to_run=None if steps_left is None else max(0, steps_left - 1),
                )
                refresh_summary(self.run)
                self._flush_logs(force=True)
                append_events(self.run_id, self._final_events or [self._fallback_final(outcome)])

    @staticmethod
    def _fallback_final(outcome: Any) -> NewEvent:
        if outcome.status == "succeeded":
            return NewEvent(
                "step_succeeded", f"'{outcome.node_id}' succeeded.", node_id=outcome.node_id
            )
        return NewEvent(
            "step_failed",
            f"'{outcome.node_id}' failed: {outcome.error}",
            node_id=outcome.node_id,
            level="error",
        )

    def _store_iterations(self, loop_id: str, outcome: Any, position: int) -> None:
        body = StepRun.objects.filter(run_id=self.run_id, parent_node_id=loop_id)
        templates = {step.node_id: step for step in body.filter(iteration__isnull=True)}
        body.delete()
        rows = []
        for item in outcome.iterations:
            template = templates.get(item.node_id)
            rows.append(
                StepRun(
                    run_id=self.run_id,
                    node_id=item.node_id,
                    iteration=item.iteration,
                    parent_node_id=loop_id,
                    node_type=template.node_type if template else "",
                    label=template.label if template else item.node_id,
                    definition_index=template.definition_index if template else 0,
                    status=item.status,
                    input=jsonable(item.input),
                    output=jsonable(item.output),
                    error=item.error or "",
                    attempts=item.attempts,
                    duration_ms=item.duration_ms,
                    http=jsonable(list(item.http)),
                    position=position,
                    completed_at=timezone.now(),
                )
            )
        StepRun.objects.bulk_create(rows)

    # -- live events --------------------------------------------------------------------
    def _on_event(self, event: EngineEvent) -> None:
        new_event = NewEvent(
            type=event.type,
            message=event.message,
            node_id=event.node_id or "",
            level=event.level,
            data=jsonable(dict(event.data)),
            iteration=event.iteration,
        )
        if event.iteration is None and event.type in ("step_succeeded", "step_failed"):
            # Written in the same transaction as the step's row, so a viewer woken by it
            # never sees the step still running.
            self._final_events.append(new_event)
            return
        self._log_buffer.append(new_event)
        self._flush_logs(force=event.type in LIVE_EVENT_TYPES)

    def _flush_logs(self, force: bool = False) -> None:
        due = time.monotonic() - self._last_flush > LOG_FLUSH_SECONDS
        if self._log_buffer and (force or due or len(self._log_buffer) >= LOG_FLUSH_LINES):
            batch, self._log_buffer = self._log_buffer, []
            append_events(self.run_id, batch)
            self._last_flush = time.monotonic()

    def _should_stop(self) -> bool:
        """Polled by the engine during delays and back-off: has the run been cancelled?"""
        if self._stopped:
            return True
        now = time.monotonic()
        if now - self._stop_checked_at >= STOP_POLL_SECONDS:
            self._stop_checked_at = now
            status = TestRun.objects.values_list("status", flat=True).get(pk=self.run_id)
            self._stopped = status != RunStatus.RUNNING
        return self._stopped
