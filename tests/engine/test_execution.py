"""Execution semantics of DESIGN §2, one rule per test."""

from typing import Any

import pytest

from meshhook.engine import (
    ExecutionContext,
    Plan,
    RunInput,
    RunState,
    StepRecord,
    execute_step,
    plan_next,
)

from .helpers import (
    branch,
    build,
    chain,
    edge,
    run,
    statuses,
    template,
    terminate,
    transform,
    trigger,
)


def test_steps_run_in_topological_order_with_ties_in_node_order() -> None:
    workflow = build(
        [trigger(), transform("z"), transform("y"), transform("x")],
        [edge("hook", "x"), edge("hook", "y"), edge("hook", "z")],
    )
    _, _, outcomes = run(workflow, {})
    assert [outcome.node_id for outcome in outcomes] == ["hook", "z", "y", "x"]


def test_trigger_output_is_body_lowercased_headers_and_query() -> None:
    workflow = build([trigger()])
    result, records, _ = run(
        workflow, {"a": 1}, headers={"X-Request-Id": "r1"}, query={"page": "2"}
    )
    assert records["hook"].output == {
        "body": {"a": 1},
        "headers": {"x-request-id": "r1"},
        "query": {"page": "2"},
    }
    assert result.status == "passed"
    assert result.output == records["hook"].output


def test_input_is_the_output_of_the_predecessor() -> None:
    workflow = build(
        [trigger(), transform("a", "body.n"), transform("b", "@")], chain("hook", "a", "b")
    )
    _, records, outcomes = run(workflow, {"n": 5})
    assert outcomes[2].input == 5
    assert records["b"].output == 5


def test_join_waits_for_all_predecessors_and_takes_the_latest_in_order() -> None:
    workflow = build(
        [
            trigger(),
            transform("left", '`"left"`'),
            transform("right", '`"right"`'),
            transform("join"),
        ],
        [edge("hook", "left"), edge("hook", "right"), edge("right", "join"), edge("left", "join")],
    )
    _, records, outcomes = run(workflow, {})
    assert [o.node_id for o in outcomes] == ["hook", "left", "right", "join"]
    assert records["join"].output == "right"


def test_input_expression_selects_from_the_context() -> None:
    workflow = build(
        [trigger(), transform("a", "body.n"), transform("b", "@", input="steps.hook.output.body")],
        chain("hook", "a", "b"),
    )
    _, records, _ = run(workflow, {"n": 5})
    assert records["b"].output == {"n": 5}


def test_branch_takes_only_matching_edges_and_passes_its_input_through() -> None:
    workflow = build(
        [trigger(), branch("big", "body.n > `10`"), transform("yes"), transform("no")],
        [edge("hook", "big"), edge("big", "yes", "true"), edge("big", "no", "false")],
    )
    _, records, _ = run(workflow, {"n": 50})
    assert statuses(records) == {
        "hook": "succeeded",
        "big": "succeeded",
        "yes": "succeeded",
        "no": "skipped",
    }
    assert records["big"].branch is True
    assert records["yes"].output == {"body": {"n": 50}, "headers": {}, "query": {}}
    _, records, _ = run(workflow, {"n": 1})
    assert records["big"].branch is False
    assert (records["yes"].status, records["no"].status) == ("skipped", "succeeded")


def test_skipping_is_transitive_but_a_join_reached_another_way_runs() -> None:
    workflow = build(
        [
            trigger(),
            branch("gate", "body.go"),
            transform("only_true"),
            transform("after_true"),
            transform("other"),
            transform("join"),
        ],
        [
            edge("hook", "gate"),
            edge("gate", "only_true", "true"),
            edge("only_true", "after_true"),
            edge("gate", "other", "false"),
            edge("after_true", "join"),
            edge("other", "join"),
        ],
    )
    result, records, _ = run(workflow, {"go": False})
    assert statuses(records) == {
        "hook": "succeeded",
        "gate": "succeeded",
        "only_true": "skipped",
        "after_true": "skipped",
        "other": "succeeded",
        "join": "succeeded",
    }
    assert result.status == "passed"


def test_plan_reports_skipped_nodes_as_soon_as_they_are_known() -> None:
    workflow = build(
        [trigger(), branch("gate", "body.go"), transform("t1"), transform("t2"), transform("f1")],
        [
            edge("hook", "gate"),
            edge("gate", "t1", "true"),
            edge("t1", "t2"),
            edge("gate", "f1", "false"),
        ],
    )
    state = RunState(run=RunInput(payload={"go": False}))
    assert plan_next(workflow, state) == Plan(skip=(), next_node="hook", finished=None)
    for node_id in ("hook", "gate"):
        state = state.with_record(
            node_id, execute_step(workflow, node_id, state, ExecutionContext()).record()
        )
    plan = plan_next(workflow, state)
    assert plan == Plan(skip=("t1", "t2"), next_node="f1", finished=None)


def test_a_node_without_incoming_edges_other_than_the_trigger_is_skipped() -> None:
    workflow = build([trigger(), transform("orphan"), transform("a")], chain("hook", "a"))
    _, records, outcomes = run(workflow, {})
    assert records["orphan"].status == "skipped"
    assert [o.node_id for o in outcomes] == ["hook", "a"]


def test_a_failed_step_with_on_error_fail_fails_the_run_and_skips_the_rest() -> None:
    workflow = build(
        [trigger(), transform("boom", "length(body)"), transform("next"), transform("side")],
        [*chain("hook", "boom", "next"), edge("hook", "side")],
    )
    result, records, outcomes = run(workflow, 5)
    assert result.status == "failed"
    assert result.failed_node == "boom"
    assert result.reason is not None
    assert result.reason.startswith("step 'boom' failed: expression 'length(body)' failed")
    assert records["boom"].status == "failed"
    assert records["next"].status == "skipped"
    assert records["side"].status == "skipped"
    assert [o.node_id for o in outcomes] == ["hook", "boom"]


def test_on_error_continue_records_failure_takes_edges_and_the_run_passes() -> None:
    workflow = build(
        [trigger(), transform("boom", "length(body)", on_error="continue"), transform("next")],
        chain("hook", "boom", "next"),
    )
    result, records, outcomes = run(workflow, 5)
    assert result.status == "passed"
    assert records["boom"].status == "failed"
    assert records["boom"].on_error_tolerated is True
    error = records["boom"].error
    assert error is not None
    assert "invalid type for value: 5" in error
    assert records["boom"].output == {"error": error}
    assert records["next"].output == {"error": error}
    assert outcomes[1].status == "failed"


def test_a_tolerated_branch_failure_counts_as_false() -> None:
    workflow = build(
        [
            trigger(),
            branch("b", "length(body) > `1`", on_error="continue"),
            transform("yes"),
            transform("no"),
        ],
        [edge("hook", "b"), edge("b", "yes", "true"), edge("b", "no", "false")],
    )
    _, records, _ = run(workflow, 7)
    assert records["b"].status == "failed"
    assert (records["yes"].status, records["no"].status) == ("skipped", "succeeded")


@pytest.mark.parametrize(
    ("terminate_status", "run_status"),
    [("success", "passed"), ("failure", "failed"), ("cancelled", "cancelled")],
)
def test_terminate_ends_the_run_at_once(terminate_status: str, run_status: str) -> None:
    workflow = build(
        [
            trigger(),
            terminate("stop", terminate_status, reason="because {{ body.why }}"),
            transform("after"),
        ],
        [*chain("hook", "stop", "after")],
    )
    result, records, outcomes = run(workflow, {"why": "tested"})
    assert result.status == run_status
    assert result.reason == "because tested"
    assert result.failed_node is None
    assert records["after"].status == "skipped"
    assert outcomes[-1].terminate == result
    assert outcomes[-1].status == "succeeded"


def test_terminate_output_template_is_the_run_result() -> None:
    workflow = build(
        [trigger(), terminate("stop", output={"id": "{{ body.id }}", "fixed": True})],
        chain("hook", "stop"),
    )
    result, _, _ = run(workflow, {"id": 42})
    assert result.output == {"id": 42, "fixed": True}


def test_a_run_without_terminate_passes_with_the_last_output() -> None:
    workflow = build([trigger(), transform("a", "body.n")], chain("hook", "a"))
    result, _, _ = run(workflow, {"n": 3})
    assert (result.status, result.output, result.reason) == ("passed", 3, None)


def test_terminate_on_a_branch_side_not_taken_does_not_end_the_run() -> None:
    workflow = build(
        [trigger(), branch("b", "body.stop"), terminate("stop", "failure"), transform("go")],
        [edge("hook", "b"), edge("b", "stop", "true"), edge("b", "go", "false")],
    )
    result, records, _ = run(workflow, {"stop": False})
    assert result.status == "passed"
    assert records["stop"].status == "skipped"


def test_plan_after_finish_lists_every_unrecorded_node() -> None:
    workflow = build(
        [trigger(), terminate("stop"), transform("a"), transform("b")],
        chain("hook", "stop", "a", "b"),
    )
    state = RunState(run=RunInput(payload={}))
    state = state.with_record("hook", StepRecord("succeeded", {}))
    state = state.with_record(
        "stop", execute_step(workflow, "stop", state, ExecutionContext()).record()
    )
    plan = plan_next(workflow, state)
    assert plan.next_node is None
    assert plan.skip == ("a", "b")
    assert plan.finished is not None
    assert plan.finished.status == "passed"


def test_executor_keeps_no_state_between_calls() -> None:
    workflow = build([trigger(), transform("a", "body")], chain("hook", "a"))
    state = RunState(run=RunInput(payload={"v": 1}))
    state = state.with_record(
        "hook", execute_step(workflow, "hook", state, ExecutionContext()).record()
    )
    first = execute_step(workflow, "a", state, ExecutionContext())
    second = execute_step(workflow, "a", state, ExecutionContext())
    assert (first.output, first.status, first.input) == (second.output, second.status, second.input)
    other = RunState(
        run=state.run, steps={**state.steps, "hook": StepRecord("succeeded", {"body": 2})}
    )
    assert execute_step(workflow, "a", other, ExecutionContext()).output == 2


def test_execute_step_refuses_unknown_and_loop_body_nodes() -> None:
    workflow = build(
        [
            trigger(),
            {"id": "each", "type": "loop", "config": {"items": "body"}},
            transform("inner", parent="each"),
        ],
        chain("hook", "each"),
    )
    state = RunState(run=RunInput(payload=[]))
    with pytest.raises(ValueError, match="no node 'ghost'"):
        execute_step(workflow, "ghost", state, ExecutionContext())
    with pytest.raises(ValueError, match="body of loop 'each'"):
        execute_step(workflow, "inner", state, ExecutionContext())


def test_unexpected_errors_become_a_failed_step_not_an_exception() -> None:
    workflow = build([trigger()])
    result, records, outcomes = run(workflow, {1, 2})
    assert result.status == "failed"
    assert outcomes[0].error is not None
    assert outcomes[0].error.startswith("internal error: TypeError")
    assert records["hook"].status == "failed"


def test_events_describe_each_step_and_are_streamed_as_they_happen() -> None:
    seen: list[Any] = []
    workflow = build([trigger(), transform("a", "body")], chain("hook", "a"))
    _, _, outcomes = run(workflow, {}, ExecutionContext(emit=seen.append))
    assert seen == [event for outcome in outcomes for event in outcome.events]
    assert [(e.type, e.node_id) for e in seen] == [
        ("step_started", "hook"),
        ("step_succeeded", "hook"),
        ("step_started", "a"),
        ("step_succeeded", "a"),
    ]
    assert seen[0].message == "Step 'hook' (webhook_trigger) started."
    assert seen[1].message.startswith("Step 'hook' succeeded in ")
    assert seen[1].level == "info"


def test_failure_event_names_the_error() -> None:
    workflow = build(
        [trigger(), transform("boom", "length(body)", label="Count")], chain("hook", "boom")
    )
    _, _, outcomes = run(workflow, 1)
    failed = outcomes[1].events[-1]
    assert failed.type == "step_failed"
    assert failed.level == "error"
    assert failed.message.startswith("Step 'Count' failed after ")
    assert "expression 'length(body)' failed" in failed.message


def test_template_transform_output_and_resolved_config() -> None:
    workflow = build(
        [trigger(), template("t", {"n": "{{ body.n }}", "list": ["{{ body.n }}", 1]})],
        chain("hook", "t"),
    )
    _, records, outcomes = run(workflow, {"n": 2})
    assert records["t"].output == {"n": 2, "list": [2, 1]}
    assert outcomes[1].resolved_config == {"template": {"n": 2, "list": [2, 1]}}


def test_a_forty_step_chain_runs_every_step_in_order() -> None:
    ids = [f"t{index}" for index in range(40)]
    nodes = [trigger()] + [
        template(node_id, {"n": "{{ n }}", "at": node_id})
        if index % 2
        else transform(node_id, "body || @")
        for index, node_id in enumerate(ids)
    ]
    workflow = build(nodes, chain("hook", *ids))
    result, _, outcomes = run(workflow, {"n": 1})
    assert [o.node_id for o in outcomes] == ["hook", *ids]
    assert result.output == {"n": 1, "at": "t39"}
