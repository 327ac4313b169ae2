"""Nodes that only compute: trigger, transform, branch, delay, terminate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..context import StepFailure
from ..expressions import Expression, ExpressionError, is_truthy
from ..limits import describe_bytes, payload_bytes
from ..state import RunResult, RunStatus
from .base import NodeCall, NodeResult

TERMINATE_RUN_STATUS: dict[str, RunStatus] = {
    "success": "passed",
    "failure": "failed",
    "cancelled": "cancelled",
}


def search(expression: Expression, data: Any) -> Any:
    try:
        return expression.search(data)
    except ExpressionError as exc:
        raise StepFailure(str(exc)) from exc


def run_trigger(call: NodeCall, resolved: Mapping[str, Any]) -> NodeResult:
    run = call.run
    limit = call.ctx.limits.max_payload_bytes
    size = payload_bytes(run.payload)
    if size > limit:
        raise StepFailure(
            f"payload is {describe_bytes(size)}, over the limit of {describe_bytes(limit)}"
        )
    return NodeResult(
        {
            "body": run.payload,
            "headers": {name.lower(): value for name, value in run.headers.items()},
            "query": dict(run.query),
        }
    )


def run_transform(call: NodeCall, resolved: Mapping[str, Any]) -> NodeResult:
    expression = call.node.compiled.get("expression")
    if isinstance(expression, Expression):
        return NodeResult(search(expression, call.input))
    return NodeResult(resolved["template"])


def run_branch(call: NodeCall, resolved: Mapping[str, Any]) -> NodeResult:
    condition: Expression = call.node.compiled["condition"]
    decision = is_truthy(search(condition, call.input))
    call.log.log("info", f"Condition {condition.source} is {str(decision).lower()}.")
    return NodeResult(call.input, branch=decision)


def run_delay(call: NodeCall, resolved: Mapping[str, Any]) -> NodeResult:
    duration_ms: int = resolved["duration_ms"]
    if not call.ctx.honor_delays:
        call.log.log(
            "info",
            f"Delay of {duration_ms} ms skipped: test runs skip delays unless asked to "
            "honour them.",
            skipped=True,
            duration_ms=duration_ms,
        )
        return NodeResult(call.input)
    call.log.log("info", f"Waiting {duration_ms} ms.", duration_ms=duration_ms)
    call.ctx.pause(duration_ms / 1000, "the delay")
    return NodeResult(call.input)


def terminate_result(resolved: Mapping[str, Any], output: Any) -> RunResult:
    return RunResult(
        status=TERMINATE_RUN_STATUS[resolved["status"]],
        reason=resolved.get("reason"),
        output=output,
    )


def run_terminate(call: NodeCall, resolved: Mapping[str, Any]) -> NodeResult:
    output = resolved.get("output", call.input)
    result = terminate_result(resolved, output)
    reason = f": {result.reason}" if result.reason else ""
    call.log.log("info", f"Run ends {result.status}{reason}.")
    return NodeResult(output, terminate=result)
