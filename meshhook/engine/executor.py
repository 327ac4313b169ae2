"""The public, stateless execution API: execute_step, preview_step and run_workflow."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from .context import ExecutionContext, StepFailure
from .events import EngineEvent, EventRecorder, HttpExchange
from .masking import mask_headers, mask_secrets
from .model import Node, Workflow
from .nodes import NodeRun
from .planner import plan_next
from .runner import render_config, resolve_input, run_node
from .state import RunInput, RunResult, RunState, StepRecord

_HTTP_TYPES = ("http_call", "webhook")


@dataclass(frozen=True)
class IterationStep:
    node_id: str
    iteration: int
    status: Literal["succeeded", "failed", "skipped"]
    input: Any
    output: Any
    error: str | None
    attempts: int
    duration_ms: int
    http: tuple[HttpExchange, ...]


@dataclass(frozen=True)
class StepOutcome:
    """One executed top-level step, masked for storing and showing."""

    node_id: str
    status: Literal["succeeded", "failed"]
    input: Any
    output: Any
    error: str | None
    attempts: int
    mocked: bool
    duration_ms: int
    resolved_config: Any
    events: tuple[EngineEvent, ...]
    http: tuple[HttpExchange, ...]
    branch: bool | None
    terminate: RunResult | None
    iterations: tuple[IterationStep, ...]
    # Unmasked: later steps may need the real values (a token a login step returned).
    _record: StepRecord = field(repr=False, compare=False)

    def record(self) -> StepRecord:
        return self._record


@dataclass(frozen=True)
class StepPreview:
    input: Any
    resolved_config: Any
    error: str | None


class _Masker:
    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = list(secrets)

    def value(self, value: Any) -> Any:
        return mask_secrets(value, self.secrets)

    def output(self, node: Node, value: Any) -> Any:
        if node.type in _HTTP_TYPES and isinstance(value, dict):
            headers = value.get("headers")
            if isinstance(headers, dict):
                value = {**value, "headers": mask_headers(headers)}
        return self.value(value)

    def config(self, node: Node, value: Any) -> Any:
        if node.type in _HTTP_TYPES and isinstance(value, dict):
            headers = value.get("headers")
            if isinstance(headers, dict):
                value = {**value, "headers": mask_headers(headers)}
        return self.value(value)

    def result(self, result: RunResult | None) -> RunResult | None:
        if result is None:
            return None
        return replace(result, reason=self.value(result.reason), output=self.value(result.output))


def _top_level_node(workflow: Workflow, node_id: str) -> Node:
    if not workflow.has_node(node_id):
        raise ValueError(f"workflow '{workflow.slug}' has no node '{node_id}'")
    node = workflow.node(node_id)
    if node.parent is not None:
        raise ValueError(
            f"node '{node_id}' is in the body of loop '{node.parent}'; execute the loop instead"
        )
    return node


def _iteration(workflow: Workflow, run: NodeRun, masker: _Masker) -> IterationStep:
    node = workflow.node(run.node_id)
    return IterationStep(
        node_id=run.node_id,
        iteration=run.iteration or 0,
        status=run.status,
        input=masker.value(run.input),
        output=masker.output(node, run.output),
        error=masker.value(run.error),
        attempts=run.attempts,
        duration_ms=run.duration_ms,
        http=run.http,
    )


def execute_step(
    workflow: Workflow, node_id: str, state: RunState, ctx: ExecutionContext
) -> StepOutcome:
    """Run one top-level node (a whole loop, body included, is one step)."""
    node = _top_level_node(workflow, node_id)
    masker = _Masker(state.run.masked_values)
    recorder = EventRecorder(masker.secrets, ctx.emit, ctx.limits.max_log_lines_per_step)
    run = run_node(workflow, node, state, None, ctx, recorder)
    status: Literal["succeeded", "failed"] = "succeeded" if run.status == "succeeded" else "failed"
    return StepOutcome(
        node_id=node_id,
        status=status,
        input=masker.value(run.input),
        output=masker.output(node, run.output),
        error=masker.value(run.error),
        attempts=run.attempts,
        mocked=run.mocked,
        duration_ms=run.duration_ms,
        resolved_config=masker.config(node, run.resolved_config),
        events=tuple(recorder.events),
        http=run.http,
        branch=run.branch,
        terminate=masker.result(run.terminate),
        iterations=tuple(_iteration(workflow, item, masker) for item in run.iterations),
        _record=run.record(),
    )


def preview_step(
    workflow: Workflow, node_id: str, state: RunState, ctx: ExecutionContext
) -> StepPreview:
    """What the step would receive — input and rendered config — without running anything."""
    node = _top_level_node(workflow, node_id)
    masker = _Masker(state.run.masked_values)
    value: Any = None
    try:
        value = resolve_input(workflow, node, state, None, ctx)
        resolved = render_config(workflow, node, state, None, value, [])
    except StepFailure as exc:
        return StepPreview(masker.value(value), None, masker.value(exc.message))
    return StepPreview(masker.value(value), masker.config(node, resolved), None)


def run_workflow(
    workflow: Workflow, run: RunInput, ctx: ExecutionContext | None = None
) -> tuple[RunResult, dict[str, StepRecord], list[StepOutcome]]:
    """Plan, execute, repeat, in-process: for tests, benchmarks and the CLI.

    Without a deadline in `ctx`, the workflow's own `run_timeout_ms` applies.
    """
    ctx = ctx or ExecutionContext()
    if ctx.deadline is None:
        ctx = replace(ctx, deadline=time.monotonic() + workflow.settings.run_timeout_ms / 1000)
    state = RunState(run=run)
    outcomes: list[StepOutcome] = []
    while True:
        plan = plan_next(workflow, state)
        state = state.with_skipped(plan.skip)
        if plan.finished is not None:
            return plan.finished, dict(state.steps), outcomes
        assert plan.next_node is not None
        outcome = execute_step(workflow, plan.next_node, state, ctx)
        outcomes.append(outcome)
        state = state.with_record(plan.next_node, outcome.record())
