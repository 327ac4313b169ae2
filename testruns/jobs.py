"""The RQ job that drives a test run: plan → (pause?) → execute one step → persist → repeat.

The job takes a run id, never an object. It writes the database first and only then
broadcasts. It holds no transaction while a step executes and returns as soon as the run
pauses, so a paused run costs no worker. Every write is conditional on the run still
running (a cancel can win at any moment), and the run's row is always locked before its
steps, in the same order as cancel_run, so the two never deadlock.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta

import django_rq
from django.db import close_old_connections, transaction
from django.db.models import Max
from django.utils import timezone

from meshhook.engine import (
    NO_OVERRIDE,
    EngineEvent,
    ExecutionContext,
    RunInput,
    RunResult,
    RunState,
    StepOutcome,
    Workflow,
    execute_step,
    parse_definition,
    plan_next,
    preview_step,
)
from testruns import lifecycle
from testruns.eventlog import NewEvent, append_events
from testruns.models import RunStatus, StepRun, StepStatus, TestRun
from testruns.outbound import TestRunPolicy
from testruns.runstore import heartbeat, jsonable, state_from_rows, stored_output

logger = logging.getLogger(__name__)

# The RQ queue of test runs (settings.RQ_QUEUES), kept apart from any other work.
QUEUE_NAME = "testruns"
# Job ids carry the run id, so the sweeper can tell a run waiting for a busy worker from one
# whose worker died.
JOB_PREFIX = "testrun-"
JOB_TIMEOUT_SECONDS = 3600

LIVE_EVENT_TYPES = {"step_started", "http_attempt"}
LOG_FLUSH_SECONDS = 0.1
LOG_FLUSH_LINES = 50
STOP_POLL_SECONDS = 0.5
# One driver per run: a duplicate job (a requeue, a double click racing a pause) waits
# for the other to let go, then finds the run no longer needs it.
DRIVE_LOCK_SECONDS = 3600
DRIVE_LOCK_WAIT_SECONDS = 10


def enqueue_drive(run_id: uuid.UUID | str) -> None:
    """Queue the worker job for the run once the current transaction has committed."""

    def enqueue() -> None:
        try:
            django_rq.get_queue(QUEUE_NAME).enqueue(
                drive_run,
                str(run_id),
                job_id=f"{JOB_PREFIX}{run_id}-{uuid.uuid4().hex[:12]}",
                job_timeout=JOB_TIMEOUT_SECONDS,
                result_ttl=0,
            )
        except Exception as exc:  # Redis down: say so on the run instead of leaving it queued
            logger.exception("Could not enqueue test run %s", run_id)
            lifecycle.end_run(run_id, "error", f"The run could not be queued: {exc}")

    transaction.on_commit(enqueue)


def run_ids_in_queue() -> set[str]:
    """Ids of the runs that have a job waiting in the queue (from the job ids above)."""
    job_ids = django_rq.get_queue(QUEUE_NAME).get_job_ids()
    return {job_id[len(JOB_PREFIX) :][:36] for job_id in job_ids if job_id.startswith(JOB_PREFIX)}


def drive_run(run_id: str) -> None:
    close_old_connections()
    lock = django_rq.get_connection(QUEUE_NAME).lock(
        f"meshhook:testrun:{run_id}:driver", timeout=DRIVE_LOCK_SECONDS
    )
    if not lock.acquire(blocking=True, blocking_timeout=DRIVE_LOCK_WAIT_SECONDS):
        logger.warning("Test run %s is already being driven; this job does nothing.", run_id)
        return
    try:
        RunDriver(run_id).drive()
    except Exception as exc:  # an engine or infrastructure bug must not strand the run
        logger.exception("Test run %s crashed", run_id)
        lifecycle.end_run(run_id, "error", f"Internal error: {type(exc).__name__}: {exc}")
    finally:
        try:
            lock.release()
        except Exception:  # expired or lost with Redis; the lock times out by itself
            logger.warning("Could not release the driver lock of test run %s", run_id)
        close_old_connections()


class RunDriver:
    def __init__(self, run_id: str) -> None:
        self.run_id = uuid.UUID(run_id)
        self.run = TestRun.objects.select_related("workflow_version", "environment").get(pk=run_id)
        self.workflow: Workflow = parse_definition(self.run.workflow_version.definition)
        self._log_buffer: list[NewEvent] = []
        self._final_events: list[NewEvent] = []
        self._last_flush = time.monotonic()
        self._stop_checked_at = 0.0
        self._stopped = False

    # -- the loop ---------------------------------------------------------------------
    def drive(self) -> None:
        if not self._claim():
            return
        run_input = self._run_input()
        if self.run.only_node:
            self._drive_single_step(run_input)
            return
        state = state_from_rows(self.workflow, run_input, self.run)
        while True:
            self.run.refresh_from_db()
            if self.run.status != RunStatus.RUNNING:
                return  # cancelled or swept while we were busy
            if self._remaining_seconds() <= 0:
                lifecycle.end_run(self.run_id, "error", self._timeout_message())
                return
            plan = plan_next(self.workflow, state)
            if plan.skip:
                self._record_skipped(plan.skip, run_ended=plan.finished is not None)
                state = state.with_skipped(plan.skip)
            if plan.finished is not None:
                self._finish(plan.finished)
                return
            node_id = plan.next_node
            assert node_id is not None
            if self._should_pause(node_id):
                self._pause(node_id, state)
                return
            outcome = self._execute(node_id, state)
            if outcome is None:
                return
            # The engine's own record keeps values (tokens, secrets) that are masked in
            # the stored output, so later steps of this drive get the real ones.
            state = state.with_record(node_id, outcome.record())

    def _claim(self) -> bool:
        mode = "step-by-step" if self.run.mode == TestRun.Mode.STEP else "run all"
        if not lifecycle.claim(self.run_id, started_message=f"Test run started ({mode})."):
            return False
        self.run.refresh_from_db()
        return True

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
        source = self.run.source_run
        context = state_from_rows(self.workflow, run_input, source) if source else None
        steps = {k: v for k, v in (context.steps if context else {}).items() if k != node_id}
        outcome = self._execute(node_id, RunState(run=run_input, steps=steps))
        if outcome is None:
            return
        passed = outcome.status == "succeeded"
        reason = None if passed else f"step '{node_id}' failed: {outcome.error}"
        self._finish(RunResult("passed" if passed else "failed", reason, outcome.output,
                               None if passed else node_id))  # fmt: skip

    def _remaining_seconds(self) -> float:
        """Of the run timeout, what is left; time spent paused does not count."""
        started = self.run.started_at or timezone.now()
        budget = timedelta(milliseconds=self.workflow.settings.run_timeout_ms + self.run.paused_ms)
        return (started + budget - timezone.now()).total_seconds()

    def _timeout_message(self) -> str:
        return f"The run timed out after {self.workflow.settings.run_timeout_ms:,} ms."

    def _should_pause(self, node_id: str) -> bool:
        if node_id == self.run.release_node:
            return False
        return (
            self.run.steps_to_run == 0
            or node_id in self.run.breakpoints
            or node_id == self.run.run_until
        )

    # -- transitions ------------------------------------------------------------------
    def _record_skipped(self, node_ids: tuple[str, ...], *, run_ended: bool) -> None:
        why = "the run ended before it" if run_ended else "no taken edge leads to it"
        with transaction.atomic():
            events = [
                NewEvent("step_skipped", f"Skipped '{node_id}': {why}.", node_id=node_id,
                         level="debug")
                for node_id in node_ids
            ]  # fmt: skip
            if not append_events(self.run_id, events):
                return
            # A skipped loop's body is skipped with it.
            StepRun.objects.filter(run_id=self.run_id, status=StepStatus.PENDING).filter(
                node_id__in=node_ids
            ).update(status=StepStatus.SKIPPED)
            StepRun.objects.filter(
                run_id=self.run_id, status=StepStatus.PENDING, parent_node_id__in=node_ids
            ).update(status=StepStatus.SKIPPED)
            lifecycle.refresh_summary(self.run_id)

    def _pause(self, node_id: str, state: RunState) -> None:
        preview = preview_step(self.workflow, node_id, state, self._context(node_id))
        with transaction.atomic():
            if not lifecycle.pause(
                self.run_id,
                paused_before=node_id,
                release_node="",
                run_until="",  # "Run to here" stops once
            ):
                return
            node = self.workflow.node(node_id)
            StepRun.objects.filter(
                run_id=self.run_id, node_id=node_id, iteration__isnull=True,
                status=StepStatus.PENDING,
            ).update(
                input=stored_output(node.type, preview.input),
                resolved_config=jsonable(preview.resolved_config),
            )  # fmt: skip
            if node_id == self.run.run_until:
                reason = "run to here"
            elif node_id in self.run.breakpoints and self.run.steps_to_run != 0:
                reason = "breakpoint"
            else:
                reason = "step mode"
            data = {"next_node": node_id, "reason": reason, "preview_error": preview.error}
            event = NewEvent("run_paused", f"Paused before '{node.label}' ({reason}).",
                             node_id=node_id, data=data)  # fmt: skip
            append_events(self.run_id, [event])

    def _finish(self, result: RunResult) -> None:
        status = result.status
        words = lifecycle.FINISHED_WORDS[RunStatus(status)]
        lifecycle.end_run(
            self.run_id,
            status,
            (result.reason or "") if status != "passed" else "",
            result=jsonable(result.output),
            from_states=[RunStatus.RUNNING],
            message=f"Test run {words}" + (f": {result.reason}" if result.reason else "."),
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
        return ExecutionContext(
            policy=policy,
            honor_delays=self.run.honor_delays,
            mocks=self.run.mocks,
            input_override=self.run.input_overrides.get(node_id, NO_OVERRIDE),
            emit=self._on_event,
            deadline=time.monotonic() + self._remaining_seconds(),
            should_stop=self._should_stop,
        )

    def _execute(self, node_id: str, state: RunState) -> StepOutcome | None:
        """Run one step; None when the run stopped being ours (cancelled) around it."""
        now = timezone.now()
        with transaction.atomic():
            if not lifecycle.touch(self.run_id, [RunStatus.RUNNING], heartbeat_at=now):
                return None
            position = (self.run.steps.aggregate(top=Max("position"))["top"] or 0) + 1
            if not StepRun.objects.filter(
                run_id=self.run_id, node_id=node_id, iteration__isnull=True,
                status=StepStatus.PENDING,
            ).update(status=StepStatus.RUNNING, started_at=now, position=position):  # fmt: skip
                return None
        self._final_events = []
        self._stop_checked_at = 0.0  # look at the run's status afresh for every step
        with heartbeat(self.run_id):
            outcome = execute_step(self.workflow, node_id, state, self._context(node_id))
        finished = timezone.now()
        with transaction.atomic():
            steps_left = self.run.steps_to_run
            if not lifecycle.touch(
                self.run_id,
                [RunStatus.RUNNING],
                heartbeat_at=finished,
                release_node="",
                steps_to_run=None if steps_left is None else max(0, steps_left - 1),
            ):
                return None  # cancelled while it ran: cancel_run has recorded the step
            StepRun.objects.filter(
                run_id=self.run_id, node_id=node_id, iteration__isnull=True,
                status=StepStatus.RUNNING,
            ).update(
                status=outcome.status, input=jsonable(outcome.input),
                output=stored_output(self.workflow.node(node_id).type, outcome.output),
                error=outcome.error or "", attempts=outcome.attempts, mocked=outcome.mocked,
                duration_ms=outcome.duration_ms, resolved_config=jsonable(outcome.resolved_config),
                http=jsonable(list(outcome.http)), branch=outcome.branch, completed_at=finished,
                input_overridden=node_id in self.run.input_overrides,
            )  # fmt: skip
            if outcome.iterations:
                self._store_iterations(node_id, outcome, position)
            lifecycle.refresh_summary(self.run_id)
            # Remaining log lines and the step's final event in one append: one broadcast
            # per step instead of two.
            final = self._final_events or [self._fallback_final(outcome)]
            batch, self._log_buffer = self._log_buffer + final, []
            append_events(self.run_id, batch)
        return outcome

    @staticmethod
    def _fallback_final(outcome: StepOutcome) -> NewEvent:
        if outcome.status == "succeeded":
            message = f"'{outcome.node_id}' succeeded."
            return NewEvent("step_succeeded", message, node_id=outcome.node_id)
        message = f"'{outcome.node_id}' failed: {outcome.error}"
        return NewEvent("step_failed", message, node_id=outcome.node_id, level="error")

    def _store_iterations(self, loop_id: str, outcome: StepOutcome, position: int) -> None:
        body = StepRun.objects.filter(run_id=self.run_id, parent_node_id=loop_id)
        templates = {step.node_id: step for step in body.filter(iteration__isnull=True)}
        body.delete()
        now = timezone.now()
        rows = []
        for item in outcome.iterations:
            template = templates.get(item.node_id)
            rows.append(
                StepRun(
                    run_id=self.run_id, node_id=item.node_id, iteration=item.iteration,
                    parent_node_id=loop_id,
                    node_type=template.node_type if template else "",
                    label=template.label if template else item.node_id,
                    definition_index=template.definition_index if template else 0,
                    status=item.status, input=jsonable(item.input),
                    output=jsonable(item.output), error=item.error or "",
                    attempts=item.attempts, duration_ms=item.duration_ms,
                    http=jsonable(list(item.http)), position=position, completed_at=now,
                )
            )  # fmt: skip
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
