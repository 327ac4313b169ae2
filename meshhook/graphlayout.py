"""Layout of a workflow graph for server-rendered SVG: layers left to right.

A node's column is the length of the longest path to it from the trigger; loop bodies hang
below their loop. Plain geometry in, plain geometry out; templates draw it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NODE_W, NODE_H = 168, 54
GAP_X, GAP_Y = 40, 22
PAD = 16

TYPE_ICONS = {
    "webhook_trigger": "⚡",
    "transform": "ƒ",
    "xml_json_transform": "⟨⟩",
    "http_call": "⇄",
    "webhook": "↗",
    "branch": "◇",
    "delay": "",  # drawn as an SVG clock in graph.html: Debian's Chromium has no emoji font
    "loop": "↻",
    "terminate": "■",
}
TYPE_NAMES = {
    "webhook_trigger": "Webhook trigger",
    "transform": "Transform",
    "xml_json_transform": "XML ⇄ JSON",
    "http_call": "HTTP call",
    "webhook": "Webhook",
    "branch": "Branch",
    "delay": "Delay",
    "loop": "Loop",
    "terminate": "Terminate",
}


@dataclass
class LaidNode:
    id: str
    label: str
    type: str
    icon: str
    type_name: str
    x: int
    y: int
    in_loop: bool
    status: str = ""

    @property
    def cx(self) -> int:
        return self.x + NODE_W // 2

    @property
    def short_label(self) -> str:
        return self.label if len(self.label) <= 17 else self.label[:16] + "…"


@dataclass
class LaidEdge:
    path: str
    label: str
    label_x: int
    label_y: int
    dashed: bool
    source: str
    target: str
    bypass: bool = False


@dataclass
class GraphLayout:
    nodes: list[LaidNode]
    edges: list[LaidEdge]
    width: int
    height: int
    node_w: int = NODE_W
    node_h: int = NODE_H

    @property
    def fits(self) -> bool:
        """Narrow enough to scale into the page and stay readable; wider graphs scroll."""
        return self.width <= 1600


def layout(definition: dict[str, Any], statuses: dict[str, str] | None = None) -> GraphLayout:
    """Lay out a (validated) definition; `statuses` colours nodes by node id."""
    nodes = [n for n in definition.get("nodes", []) if isinstance(n, dict)]
    order = {n["id"]: i for i, n in enumerate(nodes)}
    edges = [
        e
        for e in definition.get("edges", [])
        if isinstance(e, dict) and e.get("source") in order and e.get("target") in order
    ]
    parents = {n["id"]: n.get("parent") for n in nodes}
    # Loop bodies are reached from their loop by a dashed "each item" edge.
    body_entries: list[tuple[str, str]] = [
        (str(parent), n["id"])
        for n in nodes
        if (parent := n.get("parent")) in order
        and not any(e["target"] == n["id"] for e in edges if parents.get(e["source"]) == parent)
    ]
    links = [(e["source"], e["target"]) for e in edges] + body_entries

    column = dict.fromkeys(order, 0)
    for _ in range(len(order)):  # longest path by relaxation; validated graphs are acyclic
        changed = False
        for source, target in links:
            if column[target] < column[source] + 1:
                column[target] = column[source] + 1
                changed = True
        if not changed:
            break

    rows: dict[int, int] = {}
    laid: dict[str, LaidNode] = {}
    for node in sorted(nodes, key=lambda n: (parents.get(n["id"]) is not None, order[n["id"]])):
        node_id = node["id"]
        col = column[node_id]
        row = rows.get(col, 0)
        rows[col] = row + 1
        node_type = str(node.get("type", ""))
        laid[node_id] = LaidNode(
            id=node_id,
            label=str(node.get("label") or node_id),
            type=node_type,
            icon=TYPE_ICONS.get(node_type, "•"),
            type_name=TYPE_NAMES.get(node_type, node_type),
            x=PAD + col * (NODE_W + GAP_X),
            y=PAD + row * (NODE_H + GAP_Y),
            in_loop=parents.get(node_id) is not None,
            status=(statuses or {}).get(node_id, ""),
        )

    occupied = {(n.x, n.y) for n in laid.values()}
    lane_y = max((n.y + NODE_H for n in laid.values()), default=0) + 18
    drawn = [
        _edge(laid[s], laid[t], str(e.get("when") or ""), False, s, t, occupied, lane_y)
        for e in edges
        for s, t in [(e["source"], e["target"])]
    ]
    drawn += [
        _edge(laid[s], laid[t], "each", True, s, t, occupied, lane_y) for s, t in body_entries
    ]
    width = max((n.x + NODE_W for n in laid.values()), default=0) + PAD
    height = max((n.y + NODE_H for n in laid.values()), default=0) + PAD
    if any(edge.bypass for edge in drawn):
        height = lane_y + PAD
    return GraphLayout(list(laid.values()), drawn, width, height)


def _edge(
    a: LaidNode,
    b: LaidNode,
    label: str,
    dashed: bool,
    source: str,
    target: str,
    occupied: set[tuple[int, int]],
    lane_y: int,
) -> LaidEdge:
    blocked = a.y == b.y and any(
        (x, a.y) in occupied for x in range(a.x + NODE_W + GAP_X, b.x, NODE_W + GAP_X)
    )
    if blocked:
        # A straight line would run through the nodes between; go round them underneath.
        x1, x2 = a.cx, b.cx - 14
        y1, y2 = a.y + NODE_H, b.y + NODE_H
        path = (
            f"M{x1},{y1} V{lane_y - 8} Q{x1},{lane_y} {x1 + 8},{lane_y} "
            f"H{x2 - 8} Q{x2},{lane_y} {x2},{lane_y - 8} V{y2}"
        )
        return LaidEdge(path, label, (x1 + x2) // 2, lane_y - 5, dashed, source, target, True)
    x1, y1 = a.x + NODE_W, a.y + NODE_H // 2
    x2, y2 = b.x, b.y + NODE_H // 2
    if x2 <= x1:  # same column (loop body under its loop): go down from the bottom edge
        x1, y1 = a.cx, a.y + NODE_H
        x2, y2 = b.cx, b.y
        path = f"M{x1},{y1} C{x1},{y1 + 20} {x2},{y2 - 20} {x2},{y2}"
    else:
        bend = max(24, (x2 - x1) // 2)
        path = f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"
    return LaidEdge(path, label, (x1 + x2) // 2, (y1 + y2) // 2 - 6, dashed, source, target, False)
