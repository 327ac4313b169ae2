"""Which step runs next: the DAG rules of DESIGN §2, for the top level and for loop bodies."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .masking import mask_secrets
from .model import Edge, Workflow
from .state import Plan, RunResult, RunState, StepRecord


def edge_taken(edge: Edge, source: StepRecord) -> bool:
    if source.status == "skipped":
        return False
    if source.status == "failed" and not source.on_error_tolerated:
        return False
    if edge.when is None:
        return True
    # A branch that failed with on_error: continue has no decision; it counts as false.
    decision = "true" if source.branch else "false"
    return edge.when == decision


def taken_sources(workflow: Workflow, node_id: str, records: Mapping[str, StepRecord]) -> list[str]:
    return [
        edge.source
        for edge in workflow.incoming(node_id)
        if edge.source in records and edge_taken(edge, records[edge.source])
    ]


def default_input(
    workflow: Workflow, node_id: str, records: Mapping[str, StepRecord], entry_input: Any
) -> Any:
    """Output of the predecessor the node was reached through (the latest in order if several)."""
    sources = taken_sources(workflow, node_id, records)
    if not sources:
        return entry_input
    return records[max(sources, key=workflow.position)].output


@dataclass(frozen=True)
class ScopePlan:
    skip: tuple[str, ...]
    next_node: str | None


def plan_scope(
    workflow: Workflow,
    order: Sequence[str],
    records: Mapping[str, StepRecord],
    is_entry: Callable[[str], bool],
) -> ScopePlan:
    """First runnable node in `order`, and every node already known to be skipped.

    Walking in topological order, each predecessor of a node is either recorded, newly known
    to be skipped, or still pending; a node with a pending predecessor is pending too.
    """
    pending: set[str] = set()
    skip: list[str] = []
    next_node: str | None = None
    for node_id in order:
        if node_id in records:
            continue
        incoming = workflow.incoming(node_id)
        if any(edge.source in pending for edge in incoming):
            runnable = None
        elif not incoming:
            runnable = is_entry(node_id)
        else:
            runnable = bool(taken_sources(workflow, node_id, records))
        if runnable is False:
            skip.append(node_id)
            continue
        pending.add(node_id)
        if runnable and next_node is None:
            next_node = node_id
    return ScopePlan(tuple(skip), next_node)


def plan_next(workflow: Workflow, state: RunState) -> Plan:
    records = state.steps
    for node_id in workflow.top_level_order:
        record = records.get(node_id)
        if record is None:
            continue
        if record.terminate is not None:
            return _finish(workflow, state, record.terminate)
        if record.status == "failed" and not record.on_error_tolerated:
            result = RunResult(
                status="failed",
                reason=f"step '{node_id}' failed: {record.error}",
                failed_node=node_id,
            )
            return _finish(workflow, state, result)
    scope = plan_scope(
        workflow, workflow.top_level_order, records, lambda node_id: node_id == workflow.trigger_id
    )
    if scope.next_node is not None:
        return Plan(skip=scope.skip, next_node=scope.next_node, finished=None)
    ran = [
        node_id
        for node_id in workflow.top_level_order
        if node_id in records and records[node_id].status != "skipped"
    ]
    output = records[ran[-1]].output if ran else None
    return _finish(workflow, state, RunResult(status="passed", output=output))


def _finish(workflow: Workflow, state: RunState, result: RunResult) -> Plan:
    secrets = state.run.masked_values
    masked = RunResult(
        status=result.status,
        reason=mask_secrets(result.reason, secrets),
        output=mask_secrets(result.output, secrets),
        failed_node=result.failed_node,
    )
    unrecorded = tuple(
        node_id for node_id in workflow.top_level_order if node_id not in state.steps
    )
    return Plan(skip=unrecorded, next_node=None, finished=masked)
