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
