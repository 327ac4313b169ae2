"""Loops (DESIGN §2): the body runs per item, is recorded per iteration, fails the loop."""

from typing import Any

from meshhook.engine import ExecutionContext, Limits

from .helpers import branch, build, chain, edge, run, template, transform, trigger


def loop(node_id: str = "each", items: str = "body", **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "loop", "config": {"items": items, **config}}


def test_body_runs_once_per_item_in_order_and_output_is_last_body_output() -> None:
    workflow = build(
        [
            trigger(),
            loop(),
            template("double", {"n": "{{ item.n }}", "index": "{{ index }}"}, parent="each"),
            transform("pick", "n", parent="each"),
            transform("after"),
        ],
        [*chain("hook", "each", "after"), edge("double", "pick")],
    )
    result, records, outcomes = run(workflow, [{"n": 1}, {"n": 2}, {"n": 3}])
    assert records["each"].output == [1, 2, 3]
    assert records["after"].output == [1, 2, 3]
    iterations = outcomes[1].iterations
    assert [(s.node_id, s.iteration, s.status) for s in iterations] == [
        ("double", 0, "succeeded"),
        ("pick", 0, "succeeded"),
        ("double", 1, "succeeded"),
        ("pick", 1, "succeeded"),
        ("double", 2, "succeeded"),
        ("pick", 2, "succeeded"),
    ]
    assert iterations[2].input == {"n": 2}
    assert iterations[2].output == {"n": 2, "index": 1}
    assert "double" not in records
    assert result.status == "passed"


def test_body_events_carry_the_iteration() -> None:
    workflow = build([trigger(), loop(), transform("inner", parent="each")], chain("hook", "each"))
    _, _, outcomes = run(workflow, ["a", "b"])
    body_events = [
        (e.type, e.node_id, e.iteration) for e in outcomes[1].events if e.node_id == "inner"
    ]
    assert body_events == [
        ("step_started", "inner", 0),
        ("step_succeeded", "inner", 0),
        ("step_started", "inner", 1),
        ("step_succeeded", "inner", 1),
    ]
    assert outcomes[1].events[-1].message.startswith("Step 'each' succeeded")
    assert any(e.message == "Loop ran its body for 2 items." for e in outcomes[1].events)


def test_a_failed_body_step_fails_the_loop_and_stops_iterating() -> None:
    workflow = build(
        [trigger(), loop(), transform("count", "length(@)", parent="each"), transform("after")],
        chain("hook", "each", "after"),
    )
    result, records, outcomes = run(workflow, ["ab", 5, "cd"])
    assert records["each"].status == "failed"
    assert records["each"].error is not None
    assert records["each"].error.startswith(
        "item 1: step 'count' failed: expression 'length(@)' failed"
    )
    assert [(s.iteration, s.status) for s in outcomes[1].iterations] == [
        (0, "succeeded"),
        (1, "failed"),
    ]
    assert result.status == "failed"
    assert records["after"].status == "skipped"


def test_a_tolerated_body_failure_keeps_the_loop_going() -> None:
    workflow = build(
        [trigger(), loop(), transform("count", "length(@)", parent="each", on_error="continue")],
        chain("hook", "each"),
    )
    _, records, _ = run(workflow, ["ab", 5])
    assert records["each"].status == "succeeded"
    assert records["each"].output[0] == 2
    assert "error" in records["each"].output[1]


def test_a_branch_inside_the_body_skips_per_iteration() -> None:
    workflow = build(
        [
            trigger(),
            loop(),
            branch("big", "@ > `1`", parent="each"),
            template("yes", "big {{ item }}", parent="each"),
            template("no", "small {{ item }}", parent="each"),
        ],
        [edge("hook", "each"), edge("big", "yes", "true"), edge("big", "no", "false")],
    )
    _, records, outcomes = run(workflow, [1, 2])
    assert records["each"].output == ["small 1", "big 2"]
    assert [(s.node_id, s.iteration, s.status) for s in outcomes[1].iterations] == [
        ("big", 0, "succeeded"),
        ("yes", 0, "skipped"),
        ("no", 0, "succeeded"),
        ("big", 1, "succeeded"),
        ("no", 1, "skipped"),  # known as soon as the branch decided
        ("yes", 1, "succeeded"),
    ]


def test_body_steps_see_earlier_steps_of_the_same_iteration_and_top_level_steps() -> None:
    workflow = build(
        [
            trigger(),
            loop(items="body.items"),
            transform("first", "@", parent="each"),
            template("second", "{{ steps.first.output }}/{{ trigger.body.tag }}", parent="each"),
        ],
        [edge("hook", "each"), edge("first", "second")],
    )
    _, records, _ = run(workflow, {"items": ["a", "b"], "tag": "t"})
    assert records["each"].output == ["a/t", "b/t"]


def test_a_loop_without_body_outputs_its_items() -> None:
    workflow = build([trigger(), loop()], chain("hook", "each"))
    _, records, _ = run(workflow, [1, 2])
    assert records["each"].output == [1, 2]


def test_items_that_are_not_an_array_fail_the_loop() -> None:
    workflow = build([trigger(), loop()], chain("hook", "each"))
    _, records, _ = run(workflow, {"a": 1})
    assert records["each"].error == "items expression 'body' gave an object, not an array"


def test_more_items_than_max_items_fails_before_any_iteration() -> None:
    workflow = build(
        [trigger(), loop(max_items=2), transform("inner", parent="each")], chain("hook", "each")
    )
    _, records, outcomes = run(workflow, [1, 2, 3])
    assert records["each"].status == "failed"
    assert records["each"].error is not None
    assert records["each"].error.startswith("loop got 3 items, more than its limit of 2")
    assert outcomes[1].iterations == ()


def test_the_engine_limit_caps_max_items() -> None:
    workflow = build([trigger(), loop(max_items=50)], chain("hook", "each"))
    _, records, _ = run(
        workflow, list(range(10)), ExecutionContext(limits=Limits(max_loop_items=5))
    )
    assert records["each"].error is not None
    assert "more than its limit of 5" in records["each"].error


def test_a_cancel_between_iterations_stops_the_loop() -> None:
    calls: list[int] = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) > 3

    workflow = build([trigger(), loop(), transform("inner", parent="each")], chain("hook", "each"))
    _, records, _ = run(workflow, [1, 2, 3, 4, 5], ExecutionContext(should_stop=should_stop))
    assert records["each"].error == "cancelled"
