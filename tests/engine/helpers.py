"""Small builders so each test shows only the part of a definition it is about."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from meshhook.engine import (
    DefinitionError,
    ExecutionContext,
    Problem,
    RunInput,
    RunResult,
    StepOutcome,
    StepRecord,
    Workflow,
    parse_definition,
    run_workflow,
)


def definition(
    nodes: Sequence[object],
    edges: Sequence[object] = (),
    **top_level: Any,
) -> dict[str, Any]:
    """Any nodes and edges, even ones that are not objects: validation tests need those."""
    return {
        "schema_version": 1,
        "name": "Test workflow",
        "slug": "test-workflow",
        "nodes": list(nodes),
        "edges": list(edges),
        **top_level,
    }


def build(
    nodes: Sequence[dict[str, Any]], edges: Sequence[dict[str, Any]] = (), **top_level: Any
) -> Workflow:
    return parse_definition(definition(nodes, edges, **top_level))


def trigger(node_id: str = "hook") -> dict[str, Any]:
    return {"id": node_id, "type": "webhook_trigger"}


def transform(node_id: str, expression: str | None = None, **fields: Any) -> dict[str, Any]:
    config = fields.pop("config", None) or {"expression": expression or "@"}
    return {"id": node_id, "type": "transform", "config": config, **fields}


def template(node_id: str, value: Any, **fields: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "transform", "config": {"template": value}, **fields}


def branch(node_id: str, condition: str, **fields: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "branch", "config": {"condition": condition}, **fields}


def terminate(node_id: str, status: str = "success", **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "terminate", "config": {"status": status, **config}}


def edge(source: str, target: str, when: str | None = None) -> dict[str, Any]:
    return {"source": source, "target": target} | ({"when": when} if when else {})


def chain(*ids: str) -> list[dict[str, Any]]:
    return [edge(source, target) for source, target in itertools.pairwise(ids)]


def problems_of(raw: object) -> list[Problem]:
    try:
        parse_definition(raw)
    except DefinitionError as exc:
        return exc.problems
    raise AssertionError("the definition was accepted")


def run(
    workflow: Workflow,
    payload: Any = None,
    ctx: ExecutionContext | None = None,
    **run_fields: Any,
) -> tuple[RunResult, dict[str, StepRecord], list[StepOutcome]]:
    return run_workflow(workflow, RunInput(payload=payload, **run_fields), ctx)


def statuses(records: dict[str, StepRecord]) -> dict[str, str]:
    return {node_id: record.status for node_id, record in records.items()}
