"""Business rules of test runs: start, control (advance/continue/cancel), re-run.

Every status change is a conditional UPDATE from a non-terminal status, so a finished
run is never changed by a late writer (a slow worker, a double click, a sweep).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from meshhook.engine import Problem, parse_definition
from meshhook.models import Workflow, WorkflowVersion
from meshhook.problems import ProblemError
from meshhook.services.workflows import engine_workflow
from testruns import lifecycle, quotas
from testruns.eventlog import NewEvent, append_events
from testruns.jobs import enqueue_drive
from testruns.models import RunStatus, StepRun, TestRun
from testruns.parameters import (
    ParameterError,
    RunParameters,
    keep_stored_credentials,
    seal_headers,
    validate_parameters,
)
from testruns.rawrows import insert_new


class QueueUnavailable(ProblemError):
    """The run could not be handed to the workers (Redis is unreachable)."""

    status = 503

    def __init__(self, message: str) -> None:
        super().__init__(message, [Problem("$", message)])


class RunStateError(ProblemError):
    """The run is not in a state that allows this action."""

    status = 409

    def __init__(self, message: str) -> None:
        super().__init__(message, [Problem("$", message)])


def start_test_run(
    workflow: Workflow,
    params: RunParameters,
    *,
    user: Any,
    source: str = TestRun.Source.CONSOLE,
    version: WorkflowVersion | None = None,
    source_run: TestRun | None = None,
    from_step: str = "",
    only_node: str = "",
    input_overrides: dict[str, Any] | None = None,
) -> TestRun:
    """Create the run (queued) with a frozen copy of its version and queue its job once that
    is committed. Raises QueueUnavailable (503) if the job could not be queued: the run is
    then kept as an `error` record, and the answer must not pretend it is on its way."""
    quotas.check_start(user, workflow.project)
    with transaction.atomic():
        version = version or workflow.current_version()
        definition = engine_workflow(version)
        run = TestRun.objects.create(
            project=workflow.project,
            workflow=workflow,
            workflow_version=version,
            environment=params.environment,
            environment_name=params.environment.name,
            mode=params.mode,
            payload=params.payload,
            headers=seal_headers(params.headers),  # credentials encrypted at rest
            breakpoints=params.breakpoints,
            mocks=params.mocks,
            honor_delays=params.honor_delays,
            triggered_by=user if user is not None and user.is_authenticated else None,
            source=source,
            source_run=source_run,
            from_step=from_step,
            steps_to_run=0 if params.mode == TestRun.Mode.STEP else None,
            only_node=only_node,
            input_overrides=input_overrides or {},
        )
        reused = (
            _reused_steps(source_run, definition, from_step) if source_run and from_step else {}
        )
        steps = []
        for index, node in enumerate(definition.nodes):
            if only_node and node.id != only_node:
                continue
            earlier = reused.get(node.id)
            step = StepRun(
                run=run,
                node_id=node.id,
                parent_node_id=node.parent or "",
                node_type=node.type,
                label=node.label,
                definition_index=index,
            )
            if earlier is not None:
                for name in (
                    "status",
                    "mocked",
                    "attempts",
                    "input",
                    "output",
                    "error",
                    "resolved_config",
                    "http",
                    "branch",
                    "duration_ms",
                    "position",
                    "started_at",
                    "completed_at",
                ):
                    setattr(step, name, getattr(earlier, name))
                step.reused = True
            steps.append(step)
        if reused:
            StepRun.objects.bulk_create(steps)
            lifecycle.refresh_summary(run.id)
        else:
            # All pending: plain rows (one INSERT … UNNEST on PostgreSQL), see rawrows.
            fresh = ("node_id", "parent_node_id", "node_type", "label", "definition_index")
            rows = [
                {"run": run.pk, **{name: getattr(step, name) for name in fresh}} for step in steps
            ]
            insert_new(StepRun, rows)
            TestRun.objects.filter(pk=run.pk).update(total_steps=len(steps))
        message = f"Test run queued: {workflow.name} v{version.number} on {run.environment_name}"
        if only_node:
            message += f", testing only step '{only_node}'"
        elif source_run is not None:
            message += f", re-run of {source_run.short_id}" + (
                f" from step '{from_step}' ({len(reused)} earlier steps reused)"
                if from_step
                else ""
            )
        append_events(run.id, [NewEvent("run_queued", message + ".", data={"mode": run.mode})])
    # Right away when no transaction is open (the usual case), else when the caller commits.
    failures = enqueue_drive(run.id)
    if failures:
        raise QueueUnavailable(f"{failures[0]} Try again in a moment.")
    return run


def _reused_steps(source_run: TestRun, definition: Any, from_step: str) -> dict[str, StepRun]:
    """Top-level steps that ran before `from_step` in the source run, by node id."""
    source_steps = list(source_run.steps.filter(iteration__isnull=True))
    by_node = {step.node_id: step for step in source_steps}
    target = by_node.get(from_step)
    if target is None or target.position is None:
        raise ParameterError(
            [Problem("from_step", f"Step '{from_step}' did not run in {source_run.short_id}.")]
        )
    node_ids = {node.id for node in definition.nodes}
    reused: dict[str, StepRun] = {}
    for step in source_steps:
        if (
            step.position is not None
            and step.position < target.position
            and step.parent_node_id == ""
        ):
            if step.node_id not in node_ids:
                raise ParameterError(
                    [Problem("from_step", f"Step '{step.node_id}' is not in this version.")]
                )
            reused[step.node_id] = step
    return reused


def cancel_run(run: TestRun, *, reason: str = "Cancelled by the user.") -> TestRun:
    if not lifecycle.end_run(
        run.pk, "cancelled", reason, running_step_error="Cancelled while running.", message=reason
    ):
        raise RunStateError(f"The run is already {run_status(run)}.")
    run.refresh_from_db()
    return run


def run_status(run: TestRun) -> str:
    return TestRun.objects.values_list("status", flat=True).get(pk=run.pk)


def resume_run(run: TestRun, *, steps: int | None, until: str = "") -> TestRun:
    """Advance (steps=1) or continue (steps=None) a paused run; the worker picks it up."""
    with transaction.atomic():
        current = TestRun.objects.select_for_update().get(pk=run.pk)
        if current.status != RunStatus.PAUSED:
            raise RunStateError(f"The run is {current.status}, not paused.")
        now = timezone.now()
        # The heartbeat was set when the run paused: that much time does not count
        # against the run timeout.
        paused_for = now - (current.heartbeat_at or now)
        lifecycle.resume(
            run.pk,
            steps_to_run=steps,
            release_node=current.paused_before,
            run_until=until,
            paused_ms=F("paused_ms") + max(0, int(paused_for.total_seconds() * 1000)),
            heartbeat_at=now,
        )
        verb = "Advancing one step" if steps == 1 else "Continuing"
        target = f" to '{until}'" if until else ""
        append_events(
            run.id,
            [
                NewEvent(
                    "run_resumed",
                    f"{verb}{target} from '{current.paused_before}'.",
                    data={"steps": steps, "until": until or None},
                )
            ],
        )
        failures = enqueue_drive(run.id)
    if failures:
        raise QueueUnavailable(f"{failures[0]} Try again in a moment.")
    run.refresh_from_db()
    return run


def override_next_input(run: TestRun, node_id: str, value: Any) -> TestRun:
    """Replace the resolved input of the step the paused run will execute next."""
    with transaction.atomic():
        current = TestRun.objects.select_for_update().get(pk=run.pk)
        if current.status != RunStatus.PAUSED or current.paused_before != node_id:
            raise RunStateError(f"The run is not paused before '{node_id}'.")
        overrides = dict(current.input_overrides)
        overrides[node_id] = value
        TestRun.objects.filter(pk=run.pk).update(input_overrides=overrides)
        append_events(
            run.id,
            [
                NewEvent(
                    "log",
                    f"Input of '{node_id}' overridden by the user.",
                    node_id=node_id,
                    data={"input_override": value},
                )
            ],
        )
    run.refresh_from_db()
    return run


def rerun(
    run: TestRun,
    *,
    user: Any,
    source: str,
    from_step: str = "",
    overrides: dict[str, Any] | None = None,
    use_current_version: bool = False,
) -> TestRun:
    if from_step and {"payload", "headers"} & set(overrides or {}):
        # The reused steps, the trigger first, were computed from the old payload.
        message = (
            "A re-run from a step reuses the earlier steps' outputs, so it cannot take a new "
            "payload or headers; re-run from the start instead."
        )
        raise ParameterError([Problem("from_step", message)])
    version = run.workflow.current_version() if use_current_version else run.workflow_version
    stored_headers = run.headers_for_engine()
    raw = {**run.parameters, "headers": stored_headers, **(overrides or {})}
    if isinstance(raw["headers"], dict):  # a credential given as the mask keeps its value
        raw["headers"] = keep_stored_credentials(raw["headers"], stored_headers)
    params = validate_parameters(run.project, parse_definition(version.definition), raw)
    return start_test_run(
        run.workflow,
        params,
        user=user,
        source=source,
        version=version,
        source_run=run,
        from_step=from_step,
    )


def toggle_breakpoint(run: TestRun, node_id: str) -> TestRun:
    """Set or clear a breakpoint on a run that has not finished (clicked on its graph)."""
    with transaction.atomic():
        current = TestRun.objects.select_for_update().get(pk=run.pk)
        if current.is_finished:
            raise RunStateError(f"The run is already {current.status}.")
        if node_id not in current.steps.values_list("node_id", flat=True):
            raise ParameterError([Problem("node", f"No node '{node_id}' in this run.")])
        breakpoints = list(current.breakpoints)
        if node_id in breakpoints:
            breakpoints.remove(node_id)
            message = f"Breakpoint removed from '{node_id}'."
        else:
            breakpoints.append(node_id)
            message = f"Breakpoint set on '{node_id}'."
        TestRun.objects.filter(pk=run.pk).update(breakpoints=breakpoints)
        append_events(
            run.id, [NewEvent("log", message, node_id=node_id, data={"breakpoints": breakpoints})]
        )
    run.refresh_from_db()
    return run


def test_single_step(run: TestRun, node_id: str, input_value: Any, *, user: Any) -> TestRun:
    """Run one node with a given input, the rest of `run` as its context (n8n's "Execute
    step"). It is kept as a one-step test run."""
    step = run.steps.filter(node_id=node_id, iteration__isnull=True, parent_node_id="").first()
    if step is None:
        raise ParameterError([Problem("node", f"'{node_id}' is not a top-level step of this run.")])
    params = validate_parameters(
        run.project,
        parse_definition(run.workflow_version.definition),
        {**run.parameters, "headers": run.headers_for_engine(), "mode": "auto", "breakpoints": []},
    )
    return start_test_run(
        run.workflow,
        params,
        user=user,
        source=TestRun.Source.CONSOLE,
        version=run.workflow_version,
        source_run=run,
        only_node=node_id,
        input_overrides={node_id: input_value},
    )
