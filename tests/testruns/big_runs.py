"""Runs at real scale for the live-view and page tests: a long loop, a large payload, and a
finished run with 20,000 step rows written straight to the database."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.utils import timezone

from meshhook.models import Workflow
from testruns.models import RunEvent, RunStatus, StepRun, StepStatus, TestRun
from tests.factories import make_workflow, personal_project, start_run


def loop_definition(slug: str = "big-loop", body: int = 2, max_items: int = 1000) -> dict[str, Any]:
    """hook → each (loop over body.items; `body` transforms per item) → done.

    Every item makes 2 events per body step (started, succeeded): 750 items with 2 body
    steps are 3,000 events."""
    nodes: list[dict[str, Any]] = [
        {"id": "hook", "type": "webhook_trigger", "label": "Receive"},
        {"id": "each", "type": "loop", "label": "Each order line",
         "config": {"items": "body.items", "max_items": max_items}},
    ]  # fmt: skip
    edges: list[dict[str, str]] = [{"source": "hook", "target": "each"}]
    for index in range(body):
        node_id = f"b{index}"
        nodes.append({"id": node_id, "type": "transform", "parent": "each",
                      "label": f"Price line {index}" if index else "Normalise line",
                      "config": {"template": {"n": "{{ item.n }}", "step": index}}})  # fmt: skip
        if index:
            edges.append({"source": f"b{index - 1}", "target": node_id})
    nodes.append({"id": "done", "type": "transform", "label": "Summarise",
                  "config": {"expression": "{lines: length(@)}"}})  # fmt: skip
    edges.append({"source": "each", "target": "done"})
    return {"schema_version": 1, "name": "Order lines", "slug": slug, "nodes": nodes,
            "edges": edges}  # fmt: skip


def payload_definition(slug: str = "big-payload") -> dict[str, Any]:
    """hook → copy (the whole body) → pick (one row): two steps carry the payload."""
    return {
        "schema_version": 1, "name": "Bulk import", "slug": slug,
        "nodes": [
            {"id": "hook", "type": "webhook_trigger", "label": "Receive"},
            {"id": "copy", "type": "transform", "label": "Copy rows",
             "config": {"expression": "body"}},
            {"id": "pick", "type": "transform", "label": "First row",
             "config": {"expression": "rows[0]"}},
        ],
        "edges": [{"source": "hook", "target": "copy"}, {"source": "copy", "target": "pick"}],
    }  # fmt: skip


def big_payload(size: int = 500_000) -> dict[str, Any]:
    """About `size` bytes of JSON: rows of contacts."""
    row = {"name": "Ada Lovelace " + "x" * 60, "email": "ada@example.com", "note": "y" * 60}
    per_row = len(json.dumps({**row, "id": 0})) + 2
    return {"rows": [{**row, "id": n} for n in range(size // per_row + 1)]}


def items(count: int) -> dict[str, Any]:
    return {"items": [{"n": n} for n in range(count)]}


def loop_run(user: Any, count: int, *, body: int = 2) -> TestRun:
    workflow = make_workflow(personal_project(user), loop_definition(body=body), user)
    return start_run(workflow, user, payload=items(count))


def finished_loop_run(workflow: Workflow, user: Any, *, count: int, events: int) -> TestRun:
    """A passed run of `workflow` (made from loop_definition) with `count` items recorded,
    written in bulk as the worker would have left it, and `events` log events."""
    run = start_run(workflow, user, payload=items(count))
    run.refresh_from_db()  # last_seq counts the events start_run wrote
    body = [n["id"] for n in workflow.current_version().definition["nodes"] if n.get("parent")]
    now = timezone.now()
    started = now - timedelta(seconds=42)
    run.steps.filter(parent_node_id="each").delete()
    for position, node_id in enumerate(["hook", "each", "done"], start=1):
        output: Any = {"lines": count} if node_id == "done" else {"ok": node_id}
        run.steps.filter(node_id=node_id, iteration__isnull=True).update(
            status=StepStatus.SUCCEEDED, position=position, started_at=started,
            completed_at=now, duration_ms=1000 * position, output=output,
        )  # fmt: skip
    StepRun.objects.bulk_create(
        [
            StepRun(
                run=run,
                node_id=node_id,
                iteration=item,
                parent_node_id="each",
                node_type="transform",
                label=node_id,
                status=StepStatus.SUCCEEDED,
                input={"n": item},
                output={"n": item, "step": index, "pad": "z" * 200},
                attempts=1,
                duration_ms=1,
                position=2,
                definition_index=2 + index,
                completed_at=now,
            )
            for item in range(count)
            for index, node_id in enumerate(body)
        ],
        batch_size=2_000,
    )
    first = run.last_seq + 1
    RunEvent.objects.bulk_create(
        [
            RunEvent(
                run=run,
                seq=first + k,
                ts=now,
                type="log",
                node_id=body[k % len(body)],
                iteration=k // len(body) % count,
                message=f"line {k}",
            )
            for k in range(events)
        ],
        batch_size=2_000,
    )
    TestRun.objects.filter(pk=run.pk).update(
        status=RunStatus.PASSED, started_at=started, completed_at=now, duration_ms=42_000,
        last_seq=first + events - 1, total_steps=count * len(body) + 3,
        succeeded_count=count * len(body) + 3,
    )  # fmt: skip
    run.refresh_from_db()
    return run
