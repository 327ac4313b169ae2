"""Driving one test run: plan → (pause?) → execute one step → record → repeat.

The driver holds no transaction while a step executes and returns as soon as the run
pauses, so a paused run costs no worker. What it writes goes through a StepWriter (group
commits for fast steps) and every write is conditional on the run still running under the
lease this driver claimed: a cancel can win at any moment, and a driver that another
worker took over (see sweep.py) can no longer write. Before each step it looks at the
run's status and breakpoints (two small columns, not the whole row), so a cancel stops
the next step. When its worker is asked to shut down, it hands the run back between two
steps instead of finishing it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from functools import cached_property, partial
from typing import TypeVar

import psycopg
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from meshhook.engine import (
    NO_OVERRIDE,
    EngineEvent,
    ExecutionContext,
    RunInput,
    RunResult,
    RunState,
    StepOutcome,
    execute_step,
    is_run_timeout,
    plan_next,
    preview_step,
)
from meshhook.services.workflows import engine_workflow
from testruns import lifecycle
from testruns.eventlog import NewEvent, append_events
from testruns.limits import RunBudget
from testruns.models import RunStatus, StepRun, StepStatus, TestRun
from testruns.outbound import TestRunPolicy
from testruns.runstore import heartbeat, jsonable, state_from_rows, stored_output, stored_size
from testruns.stepwriter import StepWriter

# Steps that touch nothing outside the run and take microseconds: group-committed.
FAST_TYPES = frozenset(
    {"webhook_trigger", "transform", "branch", "xml_json_transform", "terminate"}
)
LIVE_EVENT_TYPES = {"step_started", "http_attempt"}
ITEM_FINAL_TYPES = {"step_succeeded", "step_failed", "step_skipped"}
logger = logging.getLogger(__name__)

# Set by the worker when it is asked to stop (SIGTERM, Ctrl-C): drivers hand their runs
# back between two steps, to be resumed by another worker.
shutdown_requested = threading.Event()
# A live step's lines are written at the latest this often or this many at a time (one
# transaction each): a loop of transforms logs thousands of lines a second.
LOG_FLUSH_SECONDS = 0.05
LOG_FLUSH_LINES = 1_000
RECONNECT_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0)
STATUS_SQL = f"SELECT status, lease, breakpoints FROM {TestRun._meta.db_table} WHERE id = %s"
T = TypeVar("T")


class RunDriver:
    def __init__(self, run_id: str, *, hand_back: Callable[[str], None] | None = None) -> None:
        self.run_id = uuid.UUID(run_id)
        self.hand_back = hand_back  # queues the run for another worker
        self.run = TestRun.objects.select_related("workflow_version", "environment").get(pk=run_id)
        self.workflow = engine_workflow(self.run.workflow_version)
        self.writer = StepWriter(self.run_id, self.workflow, self.run.input_overrides)
        self._live_step = False  # the step executing now writes its events as they come
        self._had_final = False
        self._log_buffer: list[NewEvent] = []
        self._last_flush = time.monotonic()
        self._lost = threading.Event()  # set by the heartbeat: the run is not ours any more
        self.budget = RunBudget.for_run(self.run)  # again after the claim, with its counts

    # -- the loop ---------------------------------------------------------------------
    def drive(self) -> None:
        if not self._claim():
            return
        with heartbeat(self.run_id, self.writer.lease, lost=self._lost):
            self._drive()

    def _drive(self) -> None:
        run_input = self._run_input()
        if self.run.only_node:
            self._drive_single_step(run_input)
            return
        state = state_from_rows(self.workflow, run_input, self.run)
        while True:
            if not self._retrying(self._still_running):
                return  # cancelled, or taken over by another worker
            if shutdown_requested.is_set() and self.hand_back is not None:
                self._hand_back()
                return
            if self._remaining_seconds() <= 0:
                self._time_out()
                return
            plan = plan_next(self.workflow, state)
            if plan.skip:
                self.writer.add_skipped(plan.skip, run_ended=plan.finished is not None)
                state = state.with_skipped(plan.skip)
            if plan.finished is not None:
                self._retrying(partial(self._finish, plan.finished))
                return
            node_id = plan.next_node
            assert node_id is not None
            if self._should_pause(node_id):
                self._retrying(partial(self._pause, node_id, state))
                return
            outcome = self._execute(node_id, state)
            if outcome is None:
                return
            # The engine's own record keeps values (tokens, secrets) that are masked in
            # the stored output, so later steps of this drive get the real ones.
            state = state.with_record(node_id, outcome.record())

    def _claim(self) -> bool:
        mode = "step-by-step" if self.run.mode == TestRun.Mode.STEP else "run all"
        lease = lifecycle.claim(self.run_id, started_message=f"Test run started ({mode}).")
        if lease is None:
            return False
        self.writer.lease = lease
        self.run.refresh_from_db()
        self.writer.steps_to_run = self.run.steps_to_run
        self.writer.release_node = self.run.release_node
        self.budget = RunBudget.for_run(self.run)
        return True

    def _still_running(self) -> bool:
        """Is the run still ours? Reads its status, lease and breakpoints (the user may
        toggle one while it runs). Once per step, so as cheaply as a round trip allows: on
        PostgreSQL a prepared statement on the driver's own connection (46 µs, against
        110 µs through Django's cursor and 350 µs through the ORM)."""
        if self._lost.is_set():
            return False  # the heartbeat found it cancelled or taken over
        if connection.vendor == "postgresql":
            connection.ensure_connection()
            with psycopg.Cursor(connection.connection) as cursor:
                row = cursor.execute(STATUS_SQL, [self.run_id], prepare=True).fetchone()
        else:
            with connection.cursor() as django_cursor:
                key = TestRun._meta.pk.get_db_prep_value(self.run_id, connection)
                django_cursor.execute(STATUS_SQL, [key])
                row = django_cursor.fetchone()
        if row is None:
            return False
        status, lease, breakpoints = row
        # JSON may come back as text (SQLite, and Django's loaders on PostgreSQL).
        text = isinstance(breakpoints, str | bytes)
        self.run.breakpoints = json.loads(breakpoints) if text else breakpoints
        return bool(status == RunStatus.RUNNING and lease == self.writer.lease)

    def _retrying(self, write: Callable[[], T]) -> T:
        """A database blip is not the run's failure: drop the broken connection and try
        again, for about 8 s. Every write is conditional on this driver's lease and a failed
        flush keeps its buffer, so trying again writes once."""
        for delay in RECONNECT_DELAYS:
            try:
                return write()
            except (OperationalError, InterfaceError):
                if connection.in_atomic_block:
                    raise
                logger.warning("Database error driving run %s; retrying", self.run_id)
                connection.close()
                time.sleep(delay)
        return write()

    @property
    def mine(self) -> Q:
        return self.writer.mine

    def _hand_back(self) -> None:
        """Between two steps of a worker that is stopping: store what is done and queue the
        run for another worker, which claims it with a new lease."""
        with transaction.atomic():
            if not self.writer.flush():
                return
            message = "The worker is shutting down; the run continues on another worker."
            append_events(self.run_id, [NewEvent("log", message, level="warning")])
        assert self.hand_back is not None
        try:
            self.hand_back(str(self.run_id))
        except Exception:  # no queue either: a sweeper takes the run over once it is stale
            logger.warning("Could not queue test run %s again", self.run_id, exc_info=True)

    def _run_input(self) -> RunInput:
        environment = self.run.environment
        variables = dict(environment.variables) if environment and environment.is_test else {}
        secrets = environment.secrets_for_test_run() if environment else {}
        return RunInput(
            payload=self.run.payload,
            headers=self.run.headers_for_engine(),  # the engine masks the credentials
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
        failed_node = None if passed else node_id
        self._finish(
            RunResult("passed" if passed else "failed", reason, outcome.output, failed_node)
        )

    def _remaining_seconds(self) -> float:
        """Of the run timeout, what is left; time spent paused does not count."""
        started = self.run.started_at or timezone.now()
        budget = timedelta(milliseconds=self.workflow.settings.run_timeout_ms + self.run.paused_ms)
        return (started + budget - timezone.now()).total_seconds()

    def _timeout_message(self) -> str:
        return f"The run timed out after {self.workflow.settings.run_timeout_ms:,} ms."

    def _time_out(self) -> None:
        """The run timeout is an infrastructure limit: the run ends `error`, whatever step
        (a delay, a retry back-off, a slow call) was under way."""
        with transaction.atomic():
            if self.writer.flush():
                lifecycle.end_run(self.run_id, "error", self._timeout_message(), where=self.mine)

    def _should_pause(self, node_id: str) -> bool:
        if node_id == self.writer.release_node:
            return False
        return (
            self.writer.steps_to_run == 0
            or node_id in self.run.breakpoints
            or node_id == self.run.run_until
        )

    # -- transitions ------------------------------------------------------------------
    def _pause(self, node_id: str, state: RunState) -> None:
        preview = preview_step(self.workflow, node_id, state, self._context(node_id))
        with transaction.atomic():
            if not self.writer.flush() or not lifecycle.pause(
                self.run_id,
                where=self.mine,
                paused_before=node_id,
                release_node="",
                run_until="",  # "Run to here" stops once
            ):
                return
            node = self.workflow.node(node_id)
            pending = StepRun.objects.filter(
                run_id=self.run_id, node_id=node_id, iteration__isnull=True
            ).filter(status=StepStatus.PENDING)
            pending.update(
                input=stored_output(node.type, preview.input),
                resolved_config=jsonable(preview.resolved_config),
            )
            if node_id == self.run.run_until:
                reason = "run to here"
            elif node_id in self.run.breakpoints and self.writer.steps_to_run != 0:
                reason = "breakpoint"
            else:
                reason = "step mode"
            data = {"next_node": node_id, "reason": reason, "preview_error": preview.error}
            message = f"Paused before '{node.label}' ({reason})."
            append_events(
                self.run_id, [NewEvent("run_paused", message, node_id=node_id, data=data)]
            )

    def _finish(self, result: RunResult) -> None:
        status = result.status
        words = lifecycle.FINISHED_WORDS[RunStatus(status)]
        with transaction.atomic(savepoint=False):
            if not self.writer.flush():
                return
            lifecycle.end_run(
                self.run_id,
                status,
                (result.reason or "") if status != "passed" else "",
                result=jsonable(result.output),
                from_states=[RunStatus.RUNNING],
                where=self.mine,
                message=f"Test run {words}" + (f": {result.reason}" if result.reason else "."),
                steps_settled=self.writer.settled,
            )

    # -- one step -----------------------------------------------------------------------
    @cached_property
    def _policy(self) -> TestRunPolicy:
        environment = self.run.environment
        return TestRunPolicy(
            run_id=str(self.run.id),
            environment=self.run.environment_name,
            allowed_hosts=list(environment.allowed_hosts) if environment else [],
            allow_private_network=bool(environment and environment.allow_private_network),
        )

    def _context(self, node_id: str) -> ExecutionContext:
        return ExecutionContext(
            policy=self._policy,
            honor_delays=self.run.honor_delays,
            mocks=self.run.mocks,
            input_override=self.run.input_overrides.get(node_id, NO_OVERRIDE),
            emit=self._on_event,
            deadline=time.monotonic() + self._remaining_seconds(),
            should_stop=self._should_stop,
        )

    def _is_fast(self, node_id: str) -> bool:
        node_type = self.workflow.node(node_id).type
        if node_id in self.run.mocks or node_type in FAST_TYPES:
            return True
        return node_type == "delay" and not self.run.honor_delays  # skipped in test runs

    def _execute(self, node_id: str, state: RunState) -> StepOutcome | None:
        """Run one step; None when the run stopped being ours (cancelled) around it."""
        self._had_final = False
        if self._is_fast(node_id):
            position, started = self.writer.next_position(), timezone.now()
            self._live_step = False
            outcome = execute_step(self.workflow, node_id, state, self._context(node_id))
        else:
            begun = self._retrying(partial(self.writer.start_step, node_id))
            if begun is None:
                return None
            position, started = begun
            self._live_step = True
            outcome = execute_step(self.workflow, node_id, state, self._context(node_id))
            self.writer.add_events(self._log_buffer)
            self._log_buffer = []
            if outcome.status == "failed" and is_run_timeout(outcome.error):
                self._time_out()  # not the step's failure: the run ran out of time
                return None
        if self.budget.exceeded is None:
            self.budget.charge(stored_bytes=stored_size(outcome))
        if self.budget.exceeded is not None:
            self._stop_at_limit(outcome, position, started)
            return None
        if not self._had_final:
            self.writer.add_events([self._fallback_final(outcome)])
        self.writer.add_outcome(
            outcome, position=position, started=started, finished=timezone.now()
        )
        if (self._live_step or self.writer.due) and not self._retrying(self.writer.flush):
            return None  # cancelled while it ran: the cancel has recorded the step
        return outcome

    def _stop_at_limit(self, outcome: StepOutcome, position: int, started: datetime) -> None:
        """The run passed one of its limits during this step: the step is stored failed,
        without the output or loop items that would pass it, and the run ends `failed`."""
        message = self.budget.exceeded or ""
        failed = replace(outcome, status="failed", error=message, output=None, iterations=())
        if not self._had_final:
            self.writer.add_events([self._fallback_final(failed)])
        self.writer.add_outcome(failed, position=position, started=started, finished=timezone.now())
        with transaction.atomic(savepoint=False):
            if self.writer.flush():
                lifecycle.end_run(self.run_id, "failed", message, where=self.mine)

    @staticmethod
    def _fallback_final(outcome: StepOutcome) -> NewEvent:
        if outcome.status == "succeeded":
            message = f"'{outcome.node_id}' succeeded."
            return NewEvent("step_succeeded", message, node_id=outcome.node_id)
        message = f"'{outcome.node_id}' failed: {outcome.error}"
        return NewEvent("step_failed", message, node_id=outcome.node_id, level="error")

    # -- live events --------------------------------------------------------------------
    def _on_event(self, event: EngineEvent) -> None:
        # A loop item's final event stands for the step record it will be stored as.
        item_done = event.iteration is not None and event.type in ITEM_FINAL_TYPES
        self.budget.charge(events=1, step_records=int(item_done), stored_bytes=len(event.message))
        new_event = NewEvent(
            type=event.type,
            message=event.message,
            node_id=event.node_id or "",
            level=event.level,
            data=jsonable(dict(event.data)),
            iteration=event.iteration,
        )
        final = event.iteration is None and event.type in ("step_succeeded", "step_failed")
        if self._live_step and not final:
            self._log_buffer.append(new_event)
            self._flush_logs(force=self._goes_out_now(event))
            return
        # A step's final event is written with its row, so a viewer woken by it never sees
        # the step still running; a fast step's events all wait for the group commit.
        self._had_final = self._had_final or final
        self.writer.add_events([*self._log_buffer, new_event])
        self._log_buffer = []

    def _goes_out_now(self, event: EngineEvent) -> bool:
        """A line written at once rather than with the next batch: what precedes a wait (a
        request, a delay), so the page shows it while the wait lasts. A loop item's
        transform starting is not one: forcing those wrote one transaction per item."""
        if event.type not in LIVE_EVENT_TYPES:
            return False
        if event.type == "step_started" and event.node_id and self.workflow.has_node(event.node_id):
            return self.workflow.node(event.node_id).type not in FAST_TYPES
        return True

    def _flush_logs(self, force: bool = False) -> None:
        """Live lines of a step in progress. A database error here is not the step's: the
        lines stay buffered (they are written with the step's result) and the step goes on."""
        due = time.monotonic() - self._last_flush > LOG_FLUSH_SECONDS
        if self._log_buffer and (force or due or len(self._log_buffer) >= LOG_FLUSH_LINES):
            try:
                append_events(self.run_id, self._log_buffer)
            except DatabaseError:
                logger.warning("Could not write live lines of run %s; later", self.run_id)
                return
            self._log_buffer = []
            self._last_flush = time.monotonic()

    def _should_stop(self) -> bool:
        """Polled by the engine during delays, back-offs and requests in flight (from its
        own threads too): has the run been cancelled or taken over? The heartbeat finds out
        every HEARTBEAT_SECONDS, so this reads a flag, never the database. A run past one
        of its limits stops too."""
        return self._lost.is_set() or self.budget.exceeded is not None
