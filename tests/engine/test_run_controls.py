"""Mocks, input override, preview, delays, cancel, deadline and step limits (DESIGN §3–§4)."""

import time
from typing import Any

from pytest_httpserver import HTTPServer

from meshhook.engine import (
    NO_OVERRIDE,
    ExecutionContext,
    Limits,
    RunInput,
    RunState,
    StepRecord,
    execute_step,
    preview_step,
)

from .helpers import branch, build, chain, edge, run, template, terminate, transform, trigger


def http_node(node_id: str, url: str, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "http_call", "config": {"url": url, **config}}


def test_a_mocked_step_is_not_executed_and_is_marked(httpserver: HTTPServer) -> None:
    workflow = build(
        [trigger(), http_node("call", httpserver.url_for("/never")), transform("after", "data")],
        chain("hook", "call", "after"),
    )
    mock = {"status": 200, "ok": True, "headers": {}, "data": {"id": 1}, "duration_ms": 0}
    result, records, outcomes = run(workflow, {}, ExecutionContext(mocks={"call": mock}))
    assert httpserver.log == []
    assert outcomes[1].mocked is True
    assert outcomes[1].status == "succeeded"
    assert outcomes[1].attempts == 0
    assert outcomes[1].http == ()
    assert records["after"].output == {"id": 1}
    assert outcomes[1].events[-1].message.endswith("(mocked).")
    assert result.status == "passed"


def test_a_mocked_branch_decides_on_the_mocked_output() -> None:
    workflow = build(
        [trigger(), branch("b", "hot"), transform("yes"), transform("no")],
        [edge("hook", "b"), edge("b", "yes", "true"), edge("b", "no", "false")],
    )
    _, records, _ = run(workflow, {}, ExecutionContext(mocks={"b": {"hot": True}}))
    assert records["b"].branch is True
    assert (records["yes"].status, records["no"].status) == ("succeeded", "skipped")


def test_a_mocked_branch_with_a_failing_condition_fails() -> None:
    workflow = build(
        [trigger(), branch("b", "length(@) > `1`"), transform("yes")],
        [edge("hook", "b"), edge("b", "yes", "true")],
    )
    _, records, _ = run(workflow, {}, ExecutionContext(mocks={"b": 5}))
    assert records["b"].status == "failed"


def test_a_mocked_terminate_still_ends_the_run_with_the_mocked_output() -> None:
    workflow = build(
        [trigger(), terminate("stop", "failure", reason="r"), transform("after")],
        chain("hook", "stop", "after"),
    )
    result, _, _ = run(workflow, {}, ExecutionContext(mocks={"stop": {"mocked": 1}}))
    assert (result.status, result.output, result.reason) == ("failed", {"mocked": 1}, "r")


def test_input_override_replaces_the_resolved_input_of_the_step() -> None:
    workflow = build([trigger(), transform("a", "n")], chain("hook", "a"))
    state = RunState(run=RunInput(payload={}), steps={"hook": StepRecord("succeeded", {"n": 1})})
    outcome = execute_step(workflow, "a", state, ExecutionContext(input_override={"n": 99}))
    assert (outcome.input, outcome.output) == ({"n": 99}, 99)
    assert (
        execute_step(workflow, "a", state, ExecutionContext(input_override=NO_OVERRIDE)).output == 1
    )


def test_preview_shows_input_and_rendered_config_without_sending(httpserver: HTTPServer) -> None:
    workflow = build(
        [
            trigger(),
            http_node(
                "call",
                httpserver.url_for("/x/{{ body.id }}"),
                method="POST",
                headers={"Authorization": "Bearer {{ secrets.T }}"},
                body={"id": "{{ body.id }}"},
            ),
        ],
        chain("hook", "call"),
    )
    hook = StepRecord("succeeded", {"body": {"id": 4}, "headers": {}, "query": {}})
    state = RunState(run=RunInput(payload={"id": 4}, secrets={"T": "tok"}), steps={"hook": hook})
    preview = preview_step(workflow, "call", state, ExecutionContext())
    assert preview.error is None
    assert preview.input == hook.output
    assert preview.resolved_config == {
        "url": httpserver.url_for("/x/4"),
        "method": "POST",
        "headers": {"Authorization": "••••••"},
        "body": {"id": 4},
    }
    assert httpserver.log == []


def test_preview_reports_what_would_fail() -> None:
    workflow = build([trigger(), template("t", "{{ missing }}")], chain("hook", "t"))
    state = RunState(run=RunInput(payload={}), steps={"hook": StepRecord("succeeded", {"a": 1})})
    preview = preview_step(workflow, "t", state, ExecutionContext())
    assert preview.input == {"a": 1}
    assert preview.resolved_config is None
    assert (
        preview.error
        == "config.template: template {{ missing }} yielded null (strict templates are on)"
    )


def test_preview_of_the_trigger_and_of_expression_config() -> None:
    workflow = build(
        [trigger(), branch("b", "x"), transform("y")], [edge("hook", "b"), edge("b", "y", "true")]
    )
    state = RunState(run=RunInput(payload={"p": 1}))
    assert preview_step(workflow, "hook", state, ExecutionContext()).input == {"p": 1}
    state = state.with_record("hook", StepRecord("succeeded", {"x": 1}))
    assert preview_step(workflow, "b", state, ExecutionContext()).resolved_config == {
        "condition": "x"
    }


def delay(node_id: str = "wait", duration_ms: int = 5000) -> dict[str, Any]:
    return {"id": node_id, "type": "delay", "config": {"duration_ms": duration_ms}}


def test_delays_are_skipped_unless_honoured() -> None:
    slept: list[float] = []
    workflow = build([trigger(), delay()], chain("hook", "wait"))
    _, records, outcomes = run(workflow, {"a": 1}, ExecutionContext(sleep=slept.append))
    assert slept == []
    assert records["wait"].output == records["hook"].output
    logs = [e for e in outcomes[1].events if e.type == "log"]
    assert logs[0].message.startswith("Delay of 5000 ms skipped")
    assert logs[0].data == {"skipped": True, "duration_ms": 5000}


def test_an_honoured_delay_sleeps_in_small_slices() -> None:
    slept: list[float] = []

    def recording_sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    workflow = build([trigger(), delay(duration_ms=250)], chain("hook", "wait"))
    state = RunState(run=RunInput(payload={}), steps={"hook": StepRecord("succeeded", {})})
    ctx = ExecutionContext(honor_delays=True, sleep=recording_sleep)
    outcome = execute_step(workflow, "wait", state, ctx)
    assert outcome.status == "succeeded"
    assert len(slept) >= 3
    assert max(slept) <= 0.1
    assert 0.24 <= sum(slept) <= 0.3
    assert outcome.events[1].message == "Waiting 250 ms."


def test_a_cancel_during_a_delay_fails_the_step_as_cancelled() -> None:
    polls = iter([False, False, False, True])
    workflow = build([trigger(), delay(duration_ms=60_000)], chain("hook", "wait"))
    state = RunState(run=RunInput(payload={}), steps={"hook": StepRecord("succeeded", {})})
    ctx = ExecutionContext(honor_delays=True, should_stop=lambda: next(polls), sleep=lambda _: None)
    outcome = execute_step(workflow, "wait", state, ctx)
    assert (outcome.status, outcome.error) == ("failed", "cancelled")


def test_a_delay_longer_than_the_run_deadline_fails_at_once() -> None:
    workflow = build([trigger(), delay(duration_ms=60_000)], chain("hook", "wait"))
    state = RunState(run=RunInput(payload={}), steps={"hook": StepRecord("succeeded", {})})
    ctx = ExecutionContext(honor_delays=True, deadline=time.monotonic() + 1, sleep=lambda _: None)
    outcome = execute_step(workflow, "wait", state, ctx)
    assert outcome.error is not None
    assert outcome.error.startswith("run timeout reached: the delay of 60.0 s")


def test_a_step_after_the_run_deadline_fails_with_run_timeout() -> None:
    workflow = build([trigger(), transform("a")], chain("hook", "a"))
    result, records, _ = run(workflow, {}, ExecutionContext(deadline=time.monotonic() - 1))
    assert records["hook"].error == "run timeout reached"
    assert result.status == "failed"
    assert records["a"].status == "skipped"


def test_the_workflow_run_timeout_applies_when_the_caller_gives_no_deadline() -> None:
    workflow = build(
        [trigger(), delay(duration_ms=5000)],
        chain("hook", "wait"),
        settings={"run_timeout_ms": 1000},
    )
    _, records, _ = run(workflow, {}, ExecutionContext(honor_delays=True, sleep=lambda _: None))
    assert records["wait"].error is not None
    assert records["wait"].error.startswith("run timeout reached")


def test_output_larger_than_the_limit_fails_the_step() -> None:
    workflow = build([trigger(), transform("a", "body")], chain("hook", "a"))
    _, records, _ = run(workflow, "x" * 500, ExecutionContext(limits=Limits(max_output_bytes=100)))
    assert records["hook"].error == "output is 535 bytes, over the limit of 100 bytes"


def test_payload_larger_than_the_limit_fails_the_trigger() -> None:
    workflow = build([trigger()])
    _, records, _ = run(
        workflow, "x" * 2000, ExecutionContext(limits=Limits(max_payload_bytes=1000))
    )
    assert records["hook"].error == "payload is 2.0 kB, over the limit of 1.0 kB"


def test_log_lines_per_step_are_capped() -> None:
    workflow = build(
        [
            trigger(),
            {"id": "each", "type": "loop", "config": {"items": "body"}},
            branch("b", "@", parent="each"),
        ],
        chain("hook", "each"),
    )
    _, _, outcomes = run(
        workflow, [1, 2, 3, 4], ExecutionContext(limits=Limits(max_log_lines_per_step=2))
    )
    loop_logs = [e for e in outcomes[1].events if e.type == "log" and e.node_id == "each"]
    assert [e.message for e in loop_logs] == [
        "Looping over 4 items.",
        "Loop ran its body for 4 items.",
    ]
    branch_logs = [e for e in outcomes[1].events if e.type == "log" and e.node_id == "b"]
    assert len(branch_logs) == 4  # one per iteration: the cap counts per step and iteration


def test_log_line_cap_drops_the_rest_with_one_warning() -> None:
    from meshhook.engine.events import EventRecorder

    recorder = EventRecorder([], None, max_log_lines=2)
    log = recorder.for_step("n", None)
    for number in range(5):
        log.log("info", f"line {number}")
    assert [e.message for e in recorder.events] == [
        "line 0",
        "line 1",
        "More than 2 log lines; the rest are dropped.",
    ]


def test_an_input_expression_that_fails_fails_the_step() -> None:
    workflow = build(
        [trigger(), transform("a", input="length(steps.hook.output.body)")], chain("hook", "a")
    )
    _, records, _ = run(workflow, 5)
    assert records["a"].error is not None
    assert records["a"].error.startswith(
        "input: expression 'length(steps.hook.output.body)' failed"
    )


def test_output_that_is_not_json_fails_the_step() -> None:
    workflow = build([trigger(), transform("a", "body")], chain("hook", "a"))
    state = RunState(
        run=RunInput(payload=None), steps={"hook": StepRecord("succeeded", {"body": {1, 2}})}
    )
    outcome = execute_step(workflow, "a", state, ExecutionContext())
    assert outcome.error is not None
    assert outcome.error.startswith("output is not JSON")
