"""loop: the body (nodes whose parent is the loop) runs as a small DAG once per item."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..context import LoopFrame, StepFailure
from ..expressions import Expression
from ..planner import plan_scope
from ..problems import describe_type
from ..state import SKIPPED, StepRecord
from .base import NodeCall, NodeResult, NodeRun
from .simple import search

DEFAULT_MAX_ITEMS = 100


def _items(call: NodeCall, resolved: Mapping[str, Any]) -> list[Any]:
    expression: Expression = call.node.compiled["items"]
    items = search(expression, call.input)
    if not isinstance(items, list):
        raise StepFailure(
            f"items expression '{expression.source}' gave {describe_type(items)}, not an array"
        )
    max_items = resolved.get("max_items", DEFAULT_MAX_ITEMS)
    cap = min(max_items, call.ctx.limits.max_loop_items)
    # Failing beats truncating: silently dropping items would make a test pass on half the data.
    if len(items) > cap:
        raise StepFailure(
            f"loop got {len(items)} items, more than its limit of {cap}; no item was processed "
            "(raise max_items or select fewer items)"
        )
    return items


def _last_output(body: tuple[str, ...], records: Mapping[str, StepRecord], item: Any) -> Any:
    for node_id in reversed(body):
        record = records.get(node_id)
        if record is not None and record.status != "skipped":
            return record.output
    return item


def run_loop(call: NodeCall, resolved: Mapping[str, Any]) -> NodeResult:
    items = _items(call, resolved)
    body = call.workflow.body_order(call.node.id)
    noun = "item" if len(items) == 1 else "items"
    # Said up front so a live view can show "557/750" while the loop runs.
    call.log.log("info", f"Looping over {len(items)} {noun}.", items=len(items))
    outputs: list[Any] = []
    for index, item in enumerate(items):
        call.ctx.check_running()
        records: dict[str, StepRecord] = {}
        while True:
            plan = plan_scope(call.workflow, body, records, lambda _node_id: True)
            for node_id in plan.skip:
                records[node_id] = SKIPPED
                call.iterations.append(NodeRun(node_id=node_id, iteration=index, status="skipped"))
            if plan.next_node is None:
                break
            run = call.run_body(plan.next_node, LoopFrame(call.node.id, item, index, records))
            call.iterations.append(run)
            records[run.node_id] = run.record()
            if run.status == "failed" and not run.tolerated:
                # A cancel or the deadline ends the loop as such, not as an item's failure.
                call.ctx.check_running()
                raise StepFailure(f"item {index}: step '{run.node_id}' failed: {run.error}")
        outputs.append(_last_output(body, records, item))
    call.log.log("info", f"Loop ran its body for {len(items)} {noun}.", items=len(items))
    return NodeResult(outputs)
