"""The graph's layout (meshhook.graphlayout): loop bodies in frames below their loop, labels
on at most two lines, the path a run took, and the words that say each node's status."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jmespath.exceptions import JMESPathError

from meshhook.engine import DefinitionError, parse_definition
from meshhook.engine.expressions import _syntax_error, compile_expression
from meshhook.engine.problems import Problem
from meshhook.graphlayout import (
    LINE_1_PX,
    LINE_2_PX,
    NODE_H,
    NODE_W,
    GraphLayout,
    format_duration,
    layout,
    text_width,
    wrap_label,
)

DEMO = Path(__file__).resolve().parents[2] / "meshhook" / "demo"


@dataclass
class Step:
    node_id: str
    duration_ms: int | None = None
    branch: bool | None = None


def demo(slug: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((DEMO / f"{slug}.json").read_text())
    return document


def two_loops() -> dict[str, Any]:
    """Three loops in a row; the first one's body is three nodes wide and reaches under the
    second loop, so their frames cannot share a band; the third is clear of both."""
    transform = {"type": "transform", "config": {"expression": "@"}}
    return {
        "nodes": [
            {"id": "hook", "type": "webhook_trigger"},
            {"id": "a", "type": "loop", "config": {"items": "@"}},
            {"id": "a1", **transform, "parent": "a"},
            {"id": "a2", **transform, "parent": "a"},
            {"id": "a3", **transform, "parent": "a"},
            {"id": "b", "type": "loop", "config": {"items": "@"}},
            {"id": "b1", **transform, "parent": "b"},
            {"id": "t1", **transform},
            {"id": "t2", **transform},
            {"id": "c", "type": "loop", "config": {"items": "@"}},
            {"id": "c1", **transform, "parent": "c"},
            {"id": "c2", **transform, "parent": "c"},
            {"id": "c3", **transform, "parent": "c"},
        ],
        "edges": [
            {"source": "hook", "target": "a"}, {"source": "a", "target": "b"},
            {"source": "b", "target": "t1"}, {"source": "t1", "target": "t2"},
            {"source": "t2", "target": "c"},
            {"source": "a1", "target": "a2"}, {"source": "a2", "target": "a3"},
            {"source": "c1", "target": "c3"}, {"source": "c1", "target": "c2"},
            {"source": "c2", "target": "c3"},
        ],
    }  # fmt: skip


def node(graph: GraphLayout, node_id: str) -> Any:
    return next(n for n in graph.nodes if n.id == node_id)


def edge(graph: GraphLayout, source: str, target: str) -> Any:
    return next(e for e in graph.edges if (e.source, e.target) == (source, target))


def overlaps(a: Any, b: Any) -> bool:
    return not (
        a.x + NODE_W <= b.x or b.x + NODE_W <= a.x or a.y + NODE_H <= b.y or b.y + NODE_H <= a.y
    )


def test_a_loop_body_is_drawn_in_a_frame_below_its_loop() -> None:
    graph = layout(demo("rss-digest"))

    [frame] = graph.frames
    assert frame.loop_id == "each"
    loop = node(graph, "each")
    for body in ("format", "post"):
        assert frame.contains(node(graph, body))
        assert node(graph, body).y > loop.y + NODE_H
    # The frame is under the loop, clear of every top-level node.
    assert frame.x < loop.x < frame.x + frame.width
    for top in graph.nodes:
        if not top.in_loop:
            assert not frame.contains(top)
            assert top.y + NODE_H <= frame.y
    assert frame.title.startswith("each item of For each")
    assert frame.x + frame.width <= graph.width
    assert frame.y + frame.height <= graph.height
    # The body is entered from the loop (dashed), and laid out left to right inside it.
    entry = edge(graph, "each", "format")
    assert entry.dashed
    assert node(graph, "post").x > node(graph, "format").x
    # The terminate node after the loop is no longer drawn next to a body node.
    assert node(graph, "done").y == loop.y


def test_frames_that_would_overlap_go_into_bands_of_their_own() -> None:
    graph = layout(two_loops())

    frames = {f.loop_id: f for f in graph.frames}
    for loop_id, members in {"a": "a1 a2 a3", "b": "b1", "c": "c1 c2 c3"}.items():
        for member in members.split():
            assert frames[loop_id].contains(node(graph, member)), member
    a, b, c = frames["a"], frames["b"], frames["c"]
    assert a.x + a.width > b.x  # a's body reaches under b …
    assert b.y > a.y + a.height  # … so b's frame goes below it
    assert c.y == a.y  # c is clear of a: it shares a's band
    for one in graph.nodes:
        for other in graph.nodes:
            assert one is other or not overlaps(one, other), (one.id, other.id)
    # c1 → c3 would cross c2: it goes round underneath, inside c's frame.
    bypass = edge(graph, "c1", "c3")
    assert bypass.bypass
    assert c.y < bypass.label_y < c.y + c.height


def test_long_labels_wrap_onto_two_lines_and_an_ellipsis_ends_the_rest() -> None:
    assert wrap_label("Order received") == ["Order received"]
    assert wrap_label("Look up the price of the line") == ["Look up the", "price of the line"]
    lines = wrap_label("Charge the card, then email the receipt and tell the warehouse")
    assert len(lines) == 2
    assert lines[1].endswith("…")
    assert text_width(lines[0]) <= LINE_1_PX
    assert text_width(lines[1]) <= LINE_2_PX
    # A word longer than a line is broken, not left to run out of the box.
    word = wrap_label("a_very_long_node_identifier_without_spaces_at_all")
    assert len(word) == 2
    assert word[1].endswith("…")
    assert "".join(word).rstrip("…") in "a_very_long_node_identifier_without_spaces_at_all"
    assert wrap_label("") == [""]


def test_a_node_keeps_its_whole_label_for_its_title_and_centres_one_line() -> None:
    doc = {
        "nodes": [
            {"id": "hook", "type": "webhook_trigger", "label": "Hook"},
            {"id": "x", "type": "transform", "label": "Tell the sales channel about the lead"},
        ],
        "edges": [{"source": "hook", "target": "x"}],
    }
    graph = layout(doc)
    long = node(graph, "x")
    assert long.label == "Tell the sales channel about the lead"
    assert long.description.startswith("Tell the sales channel about the lead, Transform")
    assert [y for _, y in long.label_ys] == [22, 37]
    assert long.type_y == 53
    short = node(graph, "hook")
    assert [y for _, y in short.label_ys] == [27]
    assert short.short_label == "Hook"
    assert short.status_icon == ""
    assert short.status_key == ""
    assert not graph.has_run


def test_a_run_marks_the_path_it_took_and_not_the_branch_it_did_not() -> None:
    statuses = {"hook": "succeeded", "map": "succeeded", "create": "mocked", "hot": "succeeded",
                "notify": "skipped", "done": "succeeded"}  # fmt: skip
    steps = [Step("map", 12), Step("create", 1500), Step("hot", 0, branch=False)]

    graph = layout(demo("lead-to-crm"), statuses, steps)

    assert graph.has_run
    taken = {(e.source, e.target) for e in graph.edges if e.taken}
    assert taken == {("hook", "map"), ("map", "create"), ("create", "hot"), ("hot", "done")}
    assert node(graph, "map").duration == "12 ms"
    assert node(graph, "create").duration == "1.5 s"
    assert node(graph, "hook").duration == ""
    assert node(graph, "create").description == (
        "Create contact in CRM, HTTP call, succeeded (mocked), 1.5 s"
    )
    assert node(graph, "notify").status_icon  # skipped has a shape of its own


def test_a_tolerated_failure_passes_its_edges_on_and_a_failed_branch_counts_as_false() -> None:
    doc = demo("lead-to-crm")
    for item in doc["nodes"]:
        if item["id"] in ("create", "hot"):
            item["on_error"] = "continue"
    statuses = {"hook": "succeeded", "map": "succeeded", "create": "failed", "hot": "failed",
                "notify": "skipped", "done": "succeeded"}  # fmt: skip

    graph = layout(doc, statuses, [Step("hot", 3)])

    assert edge(graph, "create", "hot").taken
    assert edge(graph, "hot", "done").taken
    assert not edge(graph, "hot", "notify").taken


def test_a_failed_step_ends_the_path_and_a_running_one_is_on_it() -> None:
    statuses = {"hook": "succeeded", "map": "succeeded", "create": "failed", "hot": "skipped",
                "notify": "skipped", "done": "skipped"}  # fmt: skip
    graph = layout(demo("lead-to-crm"), statuses)
    assert [(e.source, e.target) for e in graph.edges if e.taken] == [
        ("hook", "map"), ("map", "create")
    ]  # fmt: skip
    assert node(graph, "create").status_text == "failed"

    running = layout(demo("lead-to-crm"), {"hook": "succeeded", "map": "running"})
    assert edge(running, "hook", "map").taken
    assert not edge(running, "map", "create").taken
    assert node(running, "map").status_key == "running"


def test_inside_a_loop_body_the_path_is_read_from_the_body_statuses() -> None:
    doc = {
        "nodes": [
            {"id": "hook", "type": "webhook_trigger"},
            {"id": "each", "type": "loop", "config": {"items": "@"}},
            {"id": "check", "type": "branch", "parent": "each", "config": {"condition": "@"}},
            {"id": "yes", "type": "transform", "parent": "each", "config": {"expression": "@"}},
            {"id": "no", "type": "transform", "parent": "each", "config": {"expression": "@"}},
        ],
        "edges": [
            {"source": "hook", "target": "each"},
            {"source": "check", "target": "yes", "when": "true"},
            {"source": "check", "target": "no", "when": "false"},
        ],
    }
    statuses = {"hook": "succeeded", "each": "succeeded", "check": "succeeded",
                "yes": "succeeded", "no": "pending"}  # fmt: skip
    graph = layout(doc, statuses, [Step("each", 40)])

    assert edge(graph, "each", "check").taken
    assert edge(graph, "check", "yes").taken
    assert not edge(graph, "check", "no").taken
    assert graph.frames[0].status == "succeeded"
    assert node(graph, "yes").parent == "each"


def test_the_step_a_paused_run_stops_before_is_named_as_next() -> None:
    graph = layout(demo("lead-to-crm"), {"hook": "succeeded", "map": "pending"}, next_node="map")
    paused = node(graph, "map")
    assert paused.is_next
    assert paused.status_key == "next"
    assert paused.status_icon
    assert paused.status_text == "pending, up next"
    assert not node(graph, "hook").is_next


@pytest.mark.parametrize(
    ("ms", "shown"),
    [(None, ""), (0, "0 ms"), (999, "999 ms"), (1000, "1.0 s"), (61_500, "1 min 1 s")],
)
def test_durations_read_as_people_say_them(ms: int | None, shown: str) -> None:
    assert format_duration(ms) == shown


def test_a_graph_only_scales_down_while_it_stays_readable() -> None:
    assert layout(demo("lead-to-crm")).fits
    chain = {
        "nodes": [{"id": f"n{i}", "type": "transform"} for i in range(12)],
        "edges": [{"source": f"n{i}", "target": f"n{i + 1}"} for i in range(11)],
    }
    assert not layout(chain).fits


def test_problems_inside_a_node_name_its_id() -> None:
    doc = demo("lead-to-crm")
    doc["nodes"][1]["config"]["expression"] = "body.{email: email"
    doc["nodes"][3]["config"]["condition"] = "score >"
    doc["nodes"][2]["timeout_ms"] = -1
    doc["name"] = ""

    with pytest.raises(DefinitionError) as raised:
        parse_definition(doc)

    by_path = {p.path: p for p in raised.value.problems}
    assert by_path["nodes[1].config.expression"].node_id == "map"
    assert by_path["nodes[3].config.condition"].node_id == "hot"
    assert by_path["nodes[2].timeout_ms"].where == "nodes[2] (id `create`).timeout_ms"
    assert by_path["name"].node_id is None
    assert str(by_path["nodes[3].config.condition"]).startswith(
        "nodes[3] (id `hot`).config.condition: invalid JMESPath 'score >'"
    )
    # The node's id does not make two problems different.
    assert by_path["nodes[3].config.condition"] == Problem(
        "nodes[3].config.condition", by_path["nodes[3].config.condition"].message
    )


def test_a_problem_in_a_node_without_a_usable_id_has_only_its_path() -> None:
    with pytest.raises(DefinitionError) as raised:
        parse_definition({"nodes": [{"type": "transform"}, "not a node"], "edges": []})
    for problem in raised.value.problems:
        assert problem.node_id is None
        assert problem.where == problem.path
    with pytest.raises(DefinitionError) as listless:
        parse_definition({"nodes": "none"})
    assert all(p.node_id is None for p in listless.value.problems)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("a[", "the expression is incomplete, something is missing after column 2"),
        ("score >", "the expression is incomplete, something is missing after column 7"),
        ("foo.", "the expression is incomplete, something is missing after column 4"),
        ("foo bar", "unexpected 'bar' at column 5"),
        ("a[?b==]", "unexpected ']' at column 7"),
        ("`abc", "unclosed ` delimiter at column 1"),
    ],
)
def test_jmespath_syntax_errors_say_what_and_where_on_one_line(source: str, message: str) -> None:
    with pytest.raises(Exception) as raised:  # noqa: PT011 - the message is what is tested
        compile_expression(source, 1000)
    text = str(raised.value)
    assert text == f"invalid JMESPath '{source}': {message}"
    assert not text.rstrip().endswith(":")
    assert "Incomplete expression" not in text


def test_other_jmespath_errors_keep_their_first_line_without_a_dangling_colon() -> None:
    assert _syntax_error(JMESPathError("something odd:\nmore")) == "something odd"
