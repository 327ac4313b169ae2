"""Expressions and templates are bounded while they evaluate: by bytes built and by time."""

from __future__ import annotations

import itertools
import time
import tracemalloc
from typing import Any

import jmespath
import pytest

from meshhook.engine import (
    ExecutionContext,
    Limits,
    RunInput,
    expressions,
    is_run_timeout,
    run_workflow,
)
from meshhook.engine.expressions import (
    EvaluationBudget,
    EvaluationStopped,
    bound_budget,
    compile_expression,
    json_size,
)

from .helpers import build, template, transform, trigger

# 97 characters: each level holds eight references to the one below.
AMPLIFIER = " | ".join(["[@,@,@,@,@,@,@,@]"] * 5)
SIZE_ERROR = "stopped: its result exceeds the {:,}-byte limit while evaluating"


def search(source: str, data: Any, budget: EvaluationBudget | None = None) -> Any:
    expression = compile_expression(source, 2_000)
    if budget is None:
        return expression.search(data)
    with budget:
        return expression.search(data)


def one_step(node: dict[str, Any], payload: Any, ctx: ExecutionContext | None = None) -> Any:
    workflow = build([trigger(), node], [{"source": "hook", "target": node["id"]}])
    result, records, _ = run_workflow(workflow, RunInput(payload=payload), ctx)
    return result, records[node["id"]]


def megabyte_payload() -> list[str]:
    return ["x" * 990 for _ in range(1_000)]  # just under the 1 MB payload limit


def test_the_amplifier_on_a_1_mb_input_fails_at_the_limit_with_bounded_memory() -> None:
    assert len(AMPLIFIER) == 97
    payload = megabyte_payload()
    tracemalloc.start()
    try:
        result, record = one_step(transform("t3", AMPLIFIER), payload)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status == "failed"
    assert result.failed_node == "t3"
    assert record.status == "failed"
    assert record.error == f"expression '{AMPLIFIER}' " + SIZE_ERROR.format(10_000_000)
    # Without the budget the output check alone writes 8**3 MB before it can refuse it.
    assert peak < 40_000_000


def test_the_limit_is_configurable() -> None:
    payload = {"text": "y" * 400}
    ctx = ExecutionContext(limits=Limits(max_evaluation_bytes=1_000))
    _, fits = one_step(transform("t", "[body, body]"), payload, ctx)
    assert fits.status == "succeeded"
    _, over = one_step(transform("t", "[body, body, body]"), payload, ctx)
    assert over.error == "expression '[body, body, body]' " + SIZE_ERROR.format(1_000)


def test_one_budget_serves_every_template_of_a_step() -> None:
    # Each `{{ body }}` alone is far below the limit; repeating it must not multiply the limit.
    ctx = ExecutionContext(limits=Limits(max_evaluation_bytes=5_000))
    config = {f"k{index}": "{{ body }}" for index in range(10)}
    result, record = one_step(template("t", config), {"text": "z" * 900}, ctx)
    assert result.status == "failed"
    assert record.error.startswith("config.template: template {{ body }}: expression 'body' ")
    assert record.error.endswith(SIZE_ERROR.format(5_000))
    _, fine = one_step(template("t", {"a": "{{ body }}", "b": "{{ body.text }}"}), {"text": "z"})
    assert fine.output == {"a": {"text": "z"}, "b": "z"}


def test_text_templates_are_charged_before_the_value_is_written_out() -> None:
    ctx = ExecutionContext(limits=Limits(max_evaluation_bytes=5_000))
    node = template("t", "all: {{ [@, @, @, @] }}")
    _, record = one_step(node, {"text": "w" * 2_000}, ctx)
    assert record.error.endswith(SIZE_ERROR.format(5_000))


def test_an_input_expression_is_bounded_too() -> None:
    node = transform("t", "@", input="[trigger, trigger, trigger]")
    ctx = ExecutionContext(limits=Limits(max_evaluation_bytes=2_000))
    _, record = one_step(node, {"text": "v" * 800}, ctx)
    assert record.error.startswith("input: expression '[trigger, trigger, trigger]' stopped")


@pytest.mark.parametrize(
    "source",
    [
        "to_string(@)",
        "join(',', @)",
        "[*].[@, @]",
        "values({a: @, b: @, c: @})",
        "@[*]",
        "[@, @][]",
        "*.[@, @]",
        "[?@ != 'x'].[@, @]",
        "sort([@, @, @][])",
        "map(&[@, @], @)",
        "reverse(join('', @))",
        "@[::1]",
        "merge({a: @}, {b: @}, {c: @})",
    ],
)
def test_every_way_of_building_is_charged(source: str) -> None:
    data = ["u" * 100] * 10 if "*." not in source else {"a": "u" * 1_000}
    budget = EvaluationBudget(max_bytes=1_000, max_ms=60_000)
    with pytest.raises(EvaluationStopped, match="1,000-byte limit"):
        search(source, data, budget)
    assert not budget.run_deadline_first


def test_a_search_outside_any_step_gets_the_default_budget() -> None:
    with pytest.raises(EvaluationStopped, match="10,000,000-byte limit"):
        search(AMPLIFIER, megabyte_payload())
    assert bound_budget() is None


NORMAL = {
    "people": [
        {"name": "Ada", "age": 36, "tags": ["a", "b"], "boss": None},
        {"name": "Alan", "age": 41, "tags": [], "boss": "Ada"},
        {"name": "Grace", "age": 85, "tags": ["c"], "boss": "Ada"},
    ],
    "meta": {"count": 3, "source": "hr", "nested": {"deep": [1, [2, 3], 4]}},
}


@pytest.mark.parametrize(
    "source",
    [
        "people[0].name",
        "people[*].name",
        "people[?age > `40`].{n: name, a: age}",
        "people[].tags[]",
        "meta.nested.deep[]",
        "meta.*",
        "people[1:].name",
        "people[::-1].age",
        "{names: people[*].name, total: meta.count, first: people[0]}",
        "[people[0].name, meta.source, `[1, 2]`]",
        "people[?boss == 'Ada'] | length(@)",
        "sort_by(people, &age)[*].name",
        "max_by(people, &age).name",
        "map(&name, people)",
        "join(', ', people[*].name)",
        "to_string(meta.nested)",
        "to_string('already text')",
        "merge(meta, {extra: `true`})",
        "keys(meta)",
        "values(meta.nested)",
        "not_null(missing, meta.source)",
        "reverse(people[*].name)",
        "reverse(meta.source)",
        "type(people)",
        "people[?contains(tags, 'a')].name",
        "!people[0].boss && meta.count || `0`",
        "missing.{a: b}",
        "missing.[a, b]",
        "meta.count.*",
        "meta[?a]",
        "missing[*].a",
        "meta.count[*]",
        "meta.source[]",
        "meta.source[0:1]",
        "people[*].tags[0]",
        "sum(people[*].age)",
        "to_array(meta.count)",
        "&name",
    ],
)
def test_results_are_those_of_plain_jmespath(source: str) -> None:
    result = search(source, NORMAL)
    expected = jmespath.search(source, NORMAL)
    if source.startswith("&"):
        assert type(result) is type(expected)
    else:
        assert result == expected


def test_an_expression_within_the_limits_spends_about_its_size() -> None:
    budget = EvaluationBudget(max_bytes=10_000, max_ms=60_000)
    search("{a: people[*].name, b: meta}", NORMAL, budget)
    assert 60 < budget.spent < 200


def test_shared_references_in_the_input_are_measured_once_each_place() -> None:
    shared = {"k": "s" * 100}
    data = {"a": [shared] * 5}
    budget = EvaluationBudget(max_bytes=10_000, max_ms=60_000)
    search("[a, a]", data, budget)
    assert 1_000 < budget.spent < 1_300  # two arrays of five 100-byte objects


class FakeClock:
    """Advances one second per reading, so a deadline is crossed after a known amount of work."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.readings = 0

    def __call__(self) -> float:
        self.readings += 1
        self.now += 1.0
        return self.now


SLOW = "[*].to_string(@)"
SLOW_DATA = list(range(20_000))


def test_a_slow_expression_stops_at_the_step_time_limit() -> None:
    clock = FakeClock()
    budget = EvaluationBudget(max_bytes=10**12, max_ms=3_000, clock=clock)
    with pytest.raises(EvaluationStopped) as caught:
        search(SLOW, SLOW_DATA, budget)
    assert str(caught.value) == (
        f"expression '{SLOW}' stopped: evaluation ran past the step's 3,000 ms time limit"
    )
    assert not caught.value.run_timeout
    # The clock is read every few hundred elements, not per element.
    assert clock.readings < 20


def test_the_run_deadline_wins_when_it_comes_first() -> None:
    clock = FakeClock()
    budget = EvaluationBudget(10**12, 60_000, run_deadline=clock.now + 3, clock=clock)
    with pytest.raises(EvaluationStopped) as caught:
        search(SLOW, SLOW_DATA, budget)
    assert str(caught.value) == f"run timeout reached while evaluating expression '{SLOW}'"
    assert caught.value.run_timeout


def test_a_deadline_already_past_stops_even_a_trivial_expression() -> None:
    budget = EvaluationBudget(10_000, 60_000, run_deadline=time.monotonic() - 1)
    with pytest.raises(EvaluationStopped, match=r"^run timeout reached while evaluating"):
        search("a", {"a": 1}, budget)


def test_a_normal_expression_with_a_deadline_is_unaffected() -> None:
    budget = EvaluationBudget(10_000, 60_000, run_deadline=time.monotonic() + 60)
    assert search("people[*].name", NORMAL, budget) == ["Ada", "Alan", "Grace"]


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    clock = FakeClock(time.monotonic())
    monkeypatch.setattr(expressions, "monotonic", clock)
    return clock


def test_a_step_past_its_evaluation_time_fails_cleanly(fake_clock: FakeClock) -> None:
    ctx = ExecutionContext(limits=Limits(max_evaluation_ms=3_000))
    result, record = one_step(transform("slow", SLOW, input="trigger.body"), SLOW_DATA, ctx)
    assert result.status == "failed"
    assert record.error == (
        f"expression '{SLOW}' stopped: evaluation ran past the step's 3,000 ms time limit"
    )
    assert not is_run_timeout(record.error)


@pytest.mark.parametrize(
    ("node", "where"),
    [
        (transform("slow", SLOW, input="trigger.body"), "expression"),
        (transform("slow", "@", input=f"trigger.body | {SLOW}"), "input"),
        (template("slow", {"text": f"{{{{ body | {SLOW} }}}}"}), "template"),
    ],
)
def test_a_step_past_the_run_deadline_is_a_run_timeout(
    fake_clock: FakeClock, node: dict[str, Any], where: str
) -> None:
    # The engine's own clock is real, so the step starts; the evaluation's runs fast.
    ctx = ExecutionContext(deadline=time.monotonic() + 10, limits=Limits(max_evaluation_ms=600_000))
    result, record = one_step(node, SLOW_DATA, ctx)
    assert result.status == "failed"
    assert is_run_timeout(record.error), record.error
    assert record.error.startswith("run timeout reached while evaluating expression")


def test_each_step_gets_its_own_budget_and_none_is_left_bound() -> None:
    # Three steps spending ~270, ~540 and ~1 080 bytes: more than the limit together, but
    # the budget is per step.
    ctx = ExecutionContext(limits=Limits(max_evaluation_bytes=1_500))
    nodes = [trigger(), *(transform(f"t{index}", "[@, @]") for index in range(3))]
    ids = [node["id"] for node in nodes]
    edges = [{"source": a, "target": b} for a, b in itertools.pairwise(ids)]
    workflow = build(nodes, edges)
    result, _, _ = run_workflow(workflow, RunInput(payload="p" * 100), ctx)
    assert result.status == "passed", result
    assert bound_budget() is None


def test_a_loop_body_step_is_bounded_on_its_own() -> None:
    nodes = [
        trigger(),
        {"id": "each", "type": "loop", "config": {"items": "body"}},
        transform("double", "[@, @, @]", parent="each"),
    ]
    workflow = build(nodes, [{"source": "hook", "target": "each"}])
    ctx = ExecutionContext(limits=Limits(max_evaluation_bytes=500))
    result, records, _ = run_workflow(workflow, RunInput(payload=["a", "b" * 200]), ctx)
    assert result.status == "failed"
    assert "item 1: step 'double' failed" in (records["each"].error or "")
    assert SIZE_ERROR.format(500) in (records["each"].error or "")


def test_a_node_type_the_parser_never_makes_is_refused_as_before() -> None:
    interpreter = expressions._Interpreter(EvaluationBudget(100, 1_000))
    with pytest.raises(NotImplementedError):
        interpreter.visit({"type": "unheard_of", "children": [], "value": None}, None)


def test_a_loop_gathering_a_large_value_per_item_fails_without_writing_it_out() -> None:
    # Each body output is the 1 MB trigger output: within the output limit, and shared.
    nodes = [
        trigger(),
        {"id": "each", "type": "loop", "config": {"items": "body[0:100]"}},
        transform("same", "@", input="trigger", parent="each"),
    ]
    workflow = build(nodes, [{"source": "hook", "target": "each"}])
    payload = ["x" * 990 for _ in range(990)]
    tracemalloc.start()
    try:
        result, records, _ = run_workflow(workflow, RunInput(payload=payload))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status == "failed"
    assert records["each"].error == "output is about 98.3 MB, over the limit of 1.0 MB"
    assert peak < 40_000_000


def test_a_loop_output_within_the_margin_gets_the_exact_check() -> None:
    nodes = [
        trigger(),
        {"id": "each", "type": "loop", "config": {"items": "body"}},
        transform("triple", "[@, @, @]", parent="each"),
    ]
    workflow = build(nodes, [{"source": "hook", "target": "each"}])
    ctx = ExecutionContext(limits=Limits(max_output_bytes=120))
    _, records, _ = run_workflow(workflow, RunInput(payload=["a" * 10] * 4), ctx)
    assert records["each"].error == "output is 165 bytes, over the limit of 120 bytes"
    _, fine, _ = run_workflow(workflow, RunInput(payload=["a"] * 2), ctx)
    assert fine["each"].output == [["a"] * 3] * 2


def test_json_size_counts_shared_references_at_full_size() -> None:
    shared = ["s" * 98]
    assert json_size(shared) == 103
    assert 10 * 103 < json_size([shared] * 10) < 11 * 104
    assert json_size("text") == 6
    assert json_size(None) == 5
