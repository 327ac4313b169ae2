"""Workflow definitions the benchmarks run: chains of transforms, no HTTP.

HTTP is left out on purpose: a network round trip would dwarf and blur what is being
measured (the engine, the queue, the database and the broadcasts around each step).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

PAYLOAD: dict[str, Any] = {
    "id": "lead-4711",
    "email": "ada@example.com",
    "score": 87,
    "tags": ["hot", "inbound", "newsletter", "trial"],
    "company": {"name": "Analytical Engines Ltd", "size": 42},
}


def transform_chain(steps: int, slug: str) -> dict[str, Any]:
    """A trigger followed by `steps` transforms in a line.

    Even steps use a JMESPath `expression`, odd ones a `template`, so both config kinds
    the engine compiles are exercised; each keeps the shape the next one needs.
    """
    nodes: list[dict[str, Any]] = [{"id": "hook", "type": "webhook_trigger", "label": "Receive"}]
    for index in range(steps):
        if index == 0:
            config: dict[str, Any] = {
                "expression": "body.{id: id, email: email, score: score, tags: tags}"
            }
        elif index % 2 == 0:
            config = {"expression": "{id: id, email: email, score: score, tags: tags[0:3]}"}
        else:
            config = {
                "template": {
                    "id": "{{ id }}",
                    "email": "{{ email }}",
                    "score": "{{ score }}",
                    "tags": "{{ tags }}",
                    "step": f"t{index}",
                }
            }
        nodes.append({"id": f"t{index}", "type": "transform", "config": config})
    ids = [node["id"] for node in nodes]
    return {
        "schema_version": 1,
        "name": f"Bench {slug}",
        "slug": slug,
        "nodes": nodes,
        "edges": [{"source": a, "target": b} for a, b in pairwise(ids)],
    }


def event_flood(body: int, slug: str) -> dict[str, Any]:
    """A trigger and a loop over `body.items` whose body is `body` identity transforms:
    every item makes 2 events (started, succeeded) per body step, streamed live."""
    nodes: list[dict[str, Any]] = [
        {"id": "hook", "type": "webhook_trigger"},
        {"id": "each", "type": "loop", "config": {"items": "body.items", "max_items": 1000}},
    ]
    body_ids = [f"b{index}" for index in range(body)]
    nodes += [
        {"id": node_id, "type": "transform", "parent": "each", "config": {"expression": "@"}}
        for node_id in body_ids
    ]
    edges = [{"source": "hook", "target": "each"}]
    edges += [{"source": a, "target": b} for a, b in pairwise(body_ids)]
    return {
        "schema_version": 1,
        "name": f"Bench {slug}",
        "slug": slug,
        "nodes": nodes,
        "edges": edges,
    }


def flood_events(items: int, body: int) -> int:
    """Events a run of `event_flood` stores: the loop's 2 per item per body step, plus
    queued, started, the trigger's 2, the loop's started, log and succeeded, finished."""
    return 2 * items * body + 8
