"""Runs one node once — top-level or inside a loop body — with the rules every node shares:
cancel and deadline checks, input selection, mocks, template rendering, output limits and
turning failures into a failed step instead of an exception."""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import nullcontext
from typing import Any

from .context import NO_OVERRIDE, ExecutionContext, LoopFrame, StepFailure, template_context
from .events import EventRecorder, StepLog
from .expressions import (
    EvaluationBudget,
    EvaluationStopped,
    Expression,
    ExpressionError,
    bound_budget,
    is_truthy,
    json_size,
)
from .limits import describe_bytes, payload_bytes
from .model import Node, Workflow
from .nodes import HANDLERS, NodeCall, NodeResult, NodeRun
from .nodes.simple import terminate_result
from .planner import default_input
from .state import RunState
from .templates import Renderer, TemplateRenderError


def resolve_input(
    workflow: Workflow,
    node: Node,
    state: RunState,
    frame: LoopFrame | None,
    ctx: ExecutionContext,
) -> Any:
    """The node's input: its `input` expression, else the predecessor's output; then any
    override the caller gave for the step it executes."""
    if frame is not None:
        value = default_input(workflow, node.id, frame.records, frame.item)
    elif node.id == workflow.trigger_id:
        value = state.run.payload
    else:
        value = default_input(workflow, node.id, state.steps, None)
    if node.input_expression is not None:
        context = template_context(value, state.run, state.steps, workflow.trigger_id, frame)
        try:
            value = node.input_expression.search(context)
        except ExpressionError as exc:
            raise _evaluation_failure("input", exc) from exc
    if frame is None and ctx.input_override is not NO_OVERRIDE:
        value = ctx.input_override
    return value


def render_config(
    workflow: Workflow,
    node: Node,
    state: RunState,
    frame: LoopFrame | None,
    value: Any,
    warnings: list[str],
) -> dict[str, Any]:
    """The node's config with templates rendered; JMESPath keys keep their source text."""
    context = template_context(value, state.run, state.steps, workflow.trigger_id, frame)
    renderer = Renderer(context, workflow.settings.strict_templates, warnings)
    resolved: dict[str, Any] = {}
    # Outside a step (a preview) the whole config still shares one budget.
    budget = nullcontext() if bound_budget() is not None else EvaluationBudget.for_step()
    with budget:
        for key, compiled in node.compiled.items():
            if isinstance(compiled, Expression):
                resolved[key] = compiled.source
            else:
                try:
                    resolved[key] = renderer.render(compiled)
                except TemplateRenderError as exc:
                    raise _evaluation_failure(f"config.{key}", exc) from exc
    return resolved


def _evaluation_failure(where: str, exc: Exception) -> StepFailure:
    # A run timeout keeps its wording first: hosts tell a run timeout by how the error begins.
    stop = exc if isinstance(exc, EvaluationStopped) else exc.__cause__
    if isinstance(stop, EvaluationStopped) and stop.run_timeout:
        return StepFailure(str(stop))
    return StepFailure(f"{where}: {exc}")


def _mocked_result(node: Node, mock: Any, resolved: Mapping[str, Any]) -> NodeResult:
    if node.type == "branch":
        condition: Expression = node.compiled["condition"]
        try:
            decision = is_truthy(condition.search(mock))
        except ExpressionError as exc:
            raise StepFailure(str(exc)) from exc
        return NodeResult(mock, branch=decision)
    if node.type == "terminate":
        return NodeResult(mock, terminate=terminate_result(resolved, mock))
    return NodeResult(mock)


def _check_output_size(output: Any, limit: int, node_type: str) -> None:
    # A loop's output gathers every item's last output, each within the limit, possibly the
    # same value many times over: measured first, so a 100 × 1 MB array is never written out.
    if node_type == "loop" and (estimate := json_size(output)) > _ESTIMATE_MARGIN * limit:
        raise StepFailure(
            f"output is about {describe_bytes(estimate)}, over the limit of {describe_bytes(limit)}"
        )
    try:
        size = payload_bytes(output)  # compact, as payloads are counted
    except (TypeError, ValueError) as exc:
        raise StepFailure(f"output is not JSON: {exc}") from exc
    if size > limit:
        raise StepFailure(
            f"output is {describe_bytes(size)}, over the limit of {describe_bytes(limit)}"
        )


# json_size errs by a small factor either way; past this many times the limit the output is
# certainly too big, below it the exact check decides.
_ESTIMATE_MARGIN = 8


def run_node(
    workflow: Workflow,
    node: Node,
    state: RunState,
    frame: LoopFrame | None,
    ctx: ExecutionContext,
    recorder: EventRecorder,
) -> NodeRun:
    iteration = frame.index if frame is not None else None
    log = recorder.for_step(node.id, iteration)
    where = f" (item {iteration})" if iteration is not None else ""
    log.event("step_started", "info", f"Step '{node.label}' ({node.type}) started{where}.")
    started = time.monotonic()
    mocked = node.id in ctx.mocks
    call = NodeCall(
        workflow=workflow,
        node=node,
        input=None,
        run=state.run,
        ctx=ctx,
        log=log,
        records=state.steps,
        run_body=lambda body_id, body_frame: run_node(
            workflow, workflow.node(body_id), state, body_frame, ctx, recorder
        ),
        attempts=0 if mocked else 1,
    )
    resolved: dict[str, Any] | None = None
    result: NodeResult | None = None
    error: str | None = None
    # Every expression and template of this step (input, config, the handler's own) draws on
    # one budget, so the step fails at the limit instead of building what it describes.
    budget = EvaluationBudget.for_step(ctx.limits, ctx.deadline).bind()
    try:
        ctx.check_running()
        call.input = resolve_input(workflow, node, state, frame, ctx)
        warnings: list[str] = []
        resolved = render_config(workflow, node, state, frame, call.input, warnings)
        for warning in warnings:
            log.log("warning", f"{warning}; rendered as empty (strict templates are off).")
        if mocked:
            result = _mocked_result(node, ctx.mocks[node.id], resolved)
        else:
            result = HANDLERS[node.type](call, resolved)
        _check_output_size(result.output, ctx.limits.max_output_bytes, node.type)
    except StepFailure as exc:
        error = exc.message
    except Exception as exc:
        # A definition that validated must never crash the run: anything unexpected becomes
        # this step's failure, with enough detail to report it.
        error = f"internal error: {type(exc).__name__}: {exc}"
    finally:
        budget.unbind()
    duration_ms = round((time.monotonic() - started) * 1000)
    return _finish(node, iteration, call, resolved, result, error, mocked, duration_ms, log)


def _finish(
    node: Node,
    iteration: int | None,
    call: NodeCall,
    resolved: dict[str, Any] | None,
    result: NodeResult | None,
    error: str | None,
    mocked: bool,
    duration_ms: int,
    log: StepLog,
) -> NodeRun:
    common: dict[str, Any] = {
        "node_id": node.id,
        "iteration": iteration,
        "input": call.input,
        "attempts": call.attempts,
        "mocked": mocked,
        "duration_ms": duration_ms,
        "resolved_config": resolved,
        "http": tuple(call.http),
        "iterations": tuple(call.iterations),
    }
    if result is not None and error is None:
        suffix = " (mocked)" if mocked else ""
        log.event(
            "step_succeeded",
            "info",
            f"Step '{node.label}' succeeded in {duration_ms} ms{suffix}.",
            {"duration_ms": duration_ms, "mocked": mocked},
        )
        return NodeRun(
            status="succeeded",
            output=result.output,
            branch=result.branch,
            terminate=result.terminate,
            **common,
        )
    tolerated = node.on_error == "continue"
    note = " (on_error: continue, the run goes on)" if tolerated else ""
    log.event(
        "step_failed",
        "error",
        f"Step '{node.label}' failed after {duration_ms} ms: {error}{note}",
        {"duration_ms": duration_ms, "error": error, "tolerated": tolerated},
    )
    return NodeRun(
        status="failed",
        output={"error": error} if tolerated else None,
        error=error,
        branch=False if tolerated and node.type == "branch" else None,
        tolerated=tolerated,
        **common,
    )
