"""Edges, loop membership and the graph rules: no cycles, one trigger, loop boundaries, order."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .model import Edge, Node
from .problems import Problems, child_path, describe_type

_EDGE_KEYS = ("source", "target", "when", "id")


@dataclass
class Graph:
    edges: list[Edge]
    trigger_id: str
    order: tuple[str, ...]
    top_level_order: tuple[str, ...]
    body_orders: dict[str, tuple[str, ...]]
    incoming: dict[str, tuple[Edge, ...]] = field(default_factory=dict)
    outgoing: dict[str, tuple[Edge, ...]] = field(default_factory=dict)


def parse_edges(
    raw: Any, nodes: dict[str, Node], known_ids: set[str], problems: Problems
) -> list[tuple[int, Edge]]:
    """Check each edge on its own and against the nodes; return those usable for graph checks.

    `known_ids` also holds ids of nodes that were themselves invalid: edges to those are
    dropped quietly, their node's own problem already says what is wrong.
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.add("edges", f"edges must be an array, got {describe_type(raw)}")
        return []
    result: list[tuple[int, Edge]] = []
    seen: dict[tuple[str, str, str | None], int] = {}
    seen_ids: dict[str, int] = {}
    for index, item in enumerate(raw):
        path = child_path("edges", index)
        edge = _parse_edge(item, path, nodes, known_ids, problems)
        if edge is None:
            continue
        key = (edge.source, edge.target, edge.when)
        if key in seen:
            problems.add(path, f"duplicate of edges[{seen[key]}] ({edge.source} → {edge.target})")
            continue
        seen[key] = index
        if edge.id is not None:
            if edge.id in seen_ids:
                problems.add(f"{path}.id", f"duplicate edge id '{edge.id}'")
            seen_ids.setdefault(edge.id, index)
        result.append((index, edge))
    return result


def _parse_edge(
    item: Any, path: str, nodes: dict[str, Node], known_ids: set[str], problems: Problems
) -> Edge | None:
    if not isinstance(item, dict):
        problems.add(path, f"edge must be an object, got {describe_type(item)}")
        return None
    before = len(problems.items)
    for key in item:
        if key not in _EDGE_KEYS:
            problems.add(child_path(path, key), f"unknown edge field '{key}'")
    ends: list[str] = []
    for key in ("source", "target"):
        value = item.get(key)
        if key not in item:
            problems.add(f"{path}.{key}", f"{key} is required")
        elif not isinstance(value, str):
            problems.add(f"{path}.{key}", f"{key} must be a node id, got {describe_type(value)}")
        elif value not in nodes and value in known_ids:
            continue
        elif value not in nodes:
            problems.add(f"{path}.{key}", f"{key} '{value}' is not the id of any node")
        else:
            ends.append(value)
    when = item.get("when")
    if when is not None and when not in ("true", "false"):
        problems.add(f"{path}.when", f'when must be "true" or "false", got {describe_type(when)}')
    edge_id = item.get("id")
    if edge_id is not None and (not isinstance(edge_id, str) or not edge_id):
        problems.add(f"{path}.id", "id must be a non-empty string")
    if len(ends) == 2:
        _check_ends(ends[0], ends[1], item, path, nodes, problems)
    if len(problems.items) > before or len(ends) < 2:
        return None
    return Edge(source=ends[0], target=ends[1], when=when, id=edge_id)


def _check_ends(
    source: str,
    target: str,
    item: dict[str, Any],
    path: str,
    nodes: dict[str, Node],
    problems: Problems,
) -> None:
    source_node, target_node = nodes[source], nodes[target]
    if source == target:
        problems.add(path, f"edge from '{source}' to itself: a node cannot lead to itself")
    if source_node.type == "branch" and item.get("when") is None:
        problems.add(
            f"{path}.when", f'edges leaving branch \'{source}\' need when: "true" or "false"'
        )
    if source_node.type != "branch" and "when" in item:
        problems.add(
            f"{path}.when",
            f"when is only allowed on edges leaving a branch; '{source}' is a {source_node.type}",
        )
    if target_node.type == "webhook_trigger":
        problems.add(f"{path}.target", f"the trigger '{target}' cannot have incoming edges")
    if source_node.parent != target_node.parent:
        loop = source_node.parent or target_node.parent
        inside, outside = (source, target) if source_node.parent == loop else (target, source)
        problems.add(
            path,
            f"edge crosses the boundary of loop '{loop}': '{inside}' is in its body, "
            f"'{outside}' is not (a loop body is entered once per item, not through edges)",
        )


def check_parents(nodes: Sequence[Node], index_of: dict[str, int], problems: Problems) -> None:
    by_id = {node.id: node for node in nodes}
    for node in nodes:
        if node.parent is None:
            continue
        path = f"nodes[{index_of[node.id]}].parent"
        parent = by_id.get(node.parent)
        if node.parent == node.id:
            problems.add(path, "a node cannot be its own parent")
        elif parent is None:
            problems.add(path, f"parent '{node.parent}' is not the id of any node")
        elif parent.type != "loop":
            problems.add(path, f"parent '{node.parent}' is a {parent.type}, not a loop")
        elif node.type == "loop":
            problems.add(path, "loops cannot be nested: a loop cannot be in another loop's body")
        elif node.type in ("webhook_trigger", "terminate"):
            problems.add(path, f"a {node.type} node cannot be inside a loop body")


def find_trigger(nodes: Sequence[Node], index_of: dict[str, int], problems: Problems) -> str:
    triggers = [node.id for node in nodes if node.type == "webhook_trigger"]
    if not triggers:
        problems.add("nodes", "exactly one webhook_trigger node is required; there is none")
        return ""
    for extra in triggers[1:]:
        problems.add(
            f"nodes[{index_of[extra]}].type",
            f"exactly one webhook_trigger node is allowed; '{triggers[0]}' is already the trigger",
        )
    return triggers[0]


def _topological(ids: Sequence[str], edges: Sequence[Edge], rank: dict[str, int]) -> list[str]:
    """Kahn's algorithm; ties go to the node listed first in `nodes`. Cyclic nodes are left out."""
    members = set(ids)
    indegree = dict.fromkeys(ids, 0)
    targets: dict[str, list[str]] = {node_id: [] for node_id in ids}
    for edge in edges:
        if edge.source in members and edge.target in members:
            indegree[edge.target] += 1
            targets[edge.source].append(edge.target)
    ready = [(rank[node_id], node_id) for node_id in ids if indegree[node_id] == 0]
    heapq.heapify(ready)
    ordered: list[str] = []
    while ready:
        _, node_id = heapq.heappop(ready)
        ordered.append(node_id)
        for target in targets[node_id]:
            indegree[target] -= 1
            if indegree[target] == 0:
                heapq.heappush(ready, (rank[target], target))
    return ordered


def _reachable(start: str, links: dict[str, list[str]]) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        for neighbour in links.get(stack.pop(), []):
            if neighbour not in seen:
                seen.add(neighbour)
                stack.append(neighbour)
    return seen


def check_cycles(
    ids: Sequence[str], indexed_edges: Sequence[tuple[int, Edge]], problems: Problems
) -> bool:
    """Report each cycle once (one per strongly connected group), at its closing edge."""
    rank = {node_id: index for index, node_id in enumerate(ids)}
    edges = [edge for _, edge in indexed_edges]
    acyclic = set(_topological(ids, edges, rank))
    remaining = [node_id for node_id in ids if node_id not in acyclic]
    if not remaining:
        return True
    forward: dict[str, list[str]] = {}
    backward: dict[str, list[str]] = {}
    for edge in edges:
        forward.setdefault(edge.source, []).append(edge.target)
        backward.setdefault(edge.target, []).append(edge.source)
    edge_index = {(edge.source, edge.target): index for index, edge in indexed_edges}
    done: set[str] = set()
    for start in remaining:
        if start in done:
            continue
        group = _reachable(start, forward) & _reachable(start, backward)
        done |= group
        if len(group) < 2:
            continue  # only downstream of a cycle, not on one
        cycle = _cycle_from(start, group, backward)
        closing = edge_index[(cycle[-1], cycle[0])]
        problems.add(
            f"edges[{closing}]", "this edge closes a cycle: " + " → ".join([*cycle, cycle[0]])
        )
    return False


def _cycle_from(start: str, group: set[str], backward: dict[str, list[str]]) -> list[str]:
    """A cycle through `start` inside a strongly connected `group`, in edge direction."""
    # Breadth-first backwards from start finds the shortest way back to it.
    came_from: dict[str, str] = {}
    frontier = [start]
    while start not in came_from:
        next_frontier = []
        for node_id in frontier:
            for source in backward.get(node_id, []):
                if source in group and source not in came_from:
                    came_from[source] = node_id
                    next_frontier.append(source)
        frontier = next_frontier
    cycle = [start]
    current = came_from[start]
    while current != start:
        cycle.append(current)
        current = came_from[current]
    return cycle


def build_graph(
    nodes: Sequence[Node], indexed_edges: Sequence[tuple[int, Edge]], trigger_id: str
) -> Graph:
    rank = {node.id: index for index, node in enumerate(nodes)}
    edges = [edge for _, edge in indexed_edges]
    top_level = [node.id for node in nodes if node.parent is None]
    top_level_order = tuple(_topological(top_level, edges, rank))
    body_orders: dict[str, tuple[str, ...]] = {}
    order: list[str] = []
    for node_id in top_level_order:
        order.append(node_id)
        body = [node.id for node in nodes if node.parent == node_id]
        if body:
            body_orders[node_id] = tuple(_topological(body, edges, rank))
            order.extend(body_orders[node_id])
    incoming: dict[str, list[Edge]] = {}
    outgoing: dict[str, list[Edge]] = {}
    for edge in edges:
        incoming.setdefault(edge.target, []).append(edge)
        outgoing.setdefault(edge.source, []).append(edge)
    return Graph(
        edges=edges,
        trigger_id=trigger_id,
        order=tuple(order),
        top_level_order=top_level_order,
        body_orders=body_orders,
        incoming={key: tuple(value) for key, value in incoming.items()},
        outgoing={key: tuple(value) for key, value in outgoing.items()},
    )
