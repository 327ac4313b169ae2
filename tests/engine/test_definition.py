"""Valid definitions become typed, ordered, compiled workflows (DESIGN §2)."""

import json
from pathlib import Path

from meshhook.engine import NODE_TYPES, Edge, Limits, RetryPolicy, parse_definition

from .helpers import build, chain, definition, edge, transform, trigger

EXAMPLE = json.loads((Path(__file__).parent / "example_workflow.json").read_text())


def test_the_design_example_parses_into_typed_objects() -> None:
    workflow = parse_definition(EXAMPLE)
    assert workflow.name == "Lead to CRM"
    assert workflow.slug == "lead-to-crm"
    assert workflow.description == "optional"
    assert workflow.trigger_id == "hook"
    assert workflow.order == ("hook", "map", "create", "hot", "notify", "done")
    create = workflow.node("create")
    assert create.type == "http_call"
    assert create.label == "create"
    assert create.timeout_ms == 10000
    assert create.on_error == "fail"
    assert create.retry == RetryPolicy()
    assert workflow.node("hot").input == "steps.map.output"
    assert workflow.outgoing("hot") == (
        Edge("hot", "notify", "true"),
        Edge("hot", "done", "false"),
    )
    assert [e.source for e in workflow.incoming("done")] == ["hot", "notify"]
    assert workflow.raw == EXAMPLE
    assert workflow.settings.run_timeout_ms == 300000
    assert workflow.settings.strict_templates is True


def test_nine_node_types() -> None:
    assert len(NODE_TYPES) == 9
    assert set(NODE_TYPES) == {
        "webhook_trigger",
        "transform",
        "xml_json_transform",
        "http_call",
        "webhook",
        "branch",
        "delay",
        "loop",
        "terminate",
    }


def test_topological_order_breaks_ties_by_node_list_order() -> None:
    workflow = build(
        [trigger(), transform("c"), transform("b"), transform("a"), transform("join")],
        [
            edge("hook", "a"),
            edge("hook", "b"),
            edge("hook", "c"),
            *chain("a", "join"),
            edge("b", "join"),
            edge("c", "join"),
        ],
    )
    assert workflow.order == ("hook", "c", "b", "a", "join")


def test_order_follows_edges_not_list_position() -> None:
    workflow = build(
        [transform("last"), transform("middle"), trigger()], chain("hook", "middle", "last")
    )
    assert workflow.order == ("hook", "middle", "last")


def test_loop_body_is_placed_right_after_its_loop() -> None:
    workflow = build(
        [
            trigger(),
            {"id": "each", "type": "loop", "config": {"items": "body"}},
            transform("after"),
            transform("second", parent="each"),
            transform("first", parent="each"),
        ],
        [*chain("hook", "each", "after"), edge("first", "second")],
    )
    assert workflow.order == ("hook", "each", "first", "second", "after")
    assert workflow.top_level_order == ("hook", "each", "after")
    assert workflow.body_order("each") == ("first", "second")
    assert workflow.body_order("after") == ()


def test_retry_fields_merge_node_over_settings_over_builtins() -> None:
    workflow = build(
        [
            trigger(),
            {
                "id": "call",
                "type": "http_call",
                "config": {"url": "http://example.test"},
                "retry": {"max_attempts": 5},
            },
        ],
        chain("hook", "call"),
        settings={"default_retry": {"initial_delay_ms": 10, "max_attempts": 2}},
    )
    assert workflow.settings.default_retry == RetryPolicy(max_attempts=2, initial_delay_ms=10)
    assert workflow.node("call").retry == RetryPolicy(max_attempts=5, initial_delay_ms=10)


def test_optional_fields_and_ui_are_accepted() -> None:
    workflow = build(
        [
            {"id": "hook", "type": "webhook_trigger", "label": "Incoming", "ui": {"x": 1}},
            transform("t", on_error="continue", timeout_ms=5, ui={"y": 2}),
        ],
        [{"source": "hook", "target": "t", "id": "e1"}],
        description="d",
        ui={"zoom": 1},
        settings={"strict_templates": False, "run_timeout_ms": 1000},
    )
    assert workflow.node("hook").label == "Incoming"
    assert workflow.node("t").on_error == "continue"
    assert workflow.edges[0].id == "e1"
    assert workflow.settings.strict_templates is False


def test_a_trigger_alone_is_a_valid_workflow_and_edges_may_be_omitted() -> None:
    raw = definition([trigger()])
    del raw["edges"]
    assert parse_definition(raw).order == ("hook",)


def test_raw_is_a_copy_the_caller_cannot_change_afterwards() -> None:
    raw = definition([trigger()])
    workflow = parse_definition(raw)
    raw["nodes"].append(transform("late"))
    assert len(workflow.raw["nodes"]) == 1


def test_limits_are_configurable() -> None:
    raw = definition([trigger(), transform("a")], chain("hook", "a"))
    assert parse_definition(raw, limits=Limits(max_nodes=2)).order == ("hook", "a")
