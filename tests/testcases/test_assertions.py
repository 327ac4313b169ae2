"""Assertions on their own (no database): every op, holding and failing with a message
that says expected vs actual, validation with the path of every problem, loop steps,
missing steps, and regular expressions that cannot hang the run."""

from __future__ import annotations

import time
from typing import Any

import pytest

from testruns.assertions import (
    RegexBudget,
    RunFacts,
    StepFacts,
    evaluate,
    failed_first,
    json_equal,
    not_evaluated,
    validate,
)

RUN = RunFacts(
    status="passed",
    result={"reason": "processed lead", "contact_id": "ct_1", "tags": ["hot", "b2b"]},
    steps=[
        StepFacts("hook", "succeeded", {"body": {"score": 92}}, 1),
        StepFacts("map", "succeeded", {"email": "a@b.c", "score": 92, "ok": True}, 2),
        StepFacts("notify", "skipped", None, None),
        StepFacts("each", "succeeded", [1, 2], 30),
        StepFacts("post", "pending"),  # the loop body's placeholder row
        StepFacts("post", "succeeded", {"n": 0}, 10, iteration=0),
        StepFacts("post", "failed", None, 12, iteration=1),
    ],
)


def one(**assertion: Any) -> dict[str, Any]:
    (result,) = evaluate([assertion], RUN)
    return result


# (assertion, holds?, words the message must contain)
CASES: list[tuple[dict[str, Any], bool, str]] = [
    ({"target": "run.status", "op": "equals", "expected": "passed"}, True,
     'run.status: expected "passed", actual "passed"'),
    ({"target": "run.status", "op": "equals", "expected": "failed"}, False,
     'run.status: expected "failed", actual "passed"'),
    ({"target": "run.status", "op": "not_equals", "expected": "failed"}, True,
     'expected anything but "failed"'),
    ({"target": "run.status", "op": "not_equals", "expected": "passed"}, False,
     'expected anything but "passed", actual "passed"'),
    ({"target": "run.result", "path": "reason", "op": "contains", "expected": "lead"}, True,
     "run.result at reason"),
    ({"target": "run.result", "path": "tags", "op": "contains", "expected": "cold"}, False,
     'expected to contain "cold", actual ["hot","b2b"]'),
    ({"target": "run.result", "op": "contains", "expected": "contact_id"}, True, "contain"),
    ({"target": "step.output", "node": "map", "path": "score", "op": "contains",
      "expected": 9}, False, "number contains nothing"),
    ({"target": "run.result", "path": "reason", "op": "matches", "expected": "^processed"},
     True, "expected to match /^processed/"),
    ({"target": "run.result", "path": "reason", "op": "matches", "expected": "^done"}, False,
     'expected to match /^done/, actual "processed lead"'),
    ({"target": "run.result", "path": "contact_id", "op": "exists"}, True, "expected a value"),
    ({"target": "run.result", "path": "missing", "op": "exists"}, False,
     "expected a value, actual null"),
    ({"target": "run.result", "path": "missing", "op": "not_exists"}, True, "expected no value"),
    ({"target": "run.result", "path": "contact_id", "op": "not_exists"}, False,
     'expected no value, actual "ct_1"'),
    ({"target": "step.output", "node": "map", "path": "score", "op": "lt", "expected": 100},
     True, "expected < 100, actual 92"),
    ({"target": "step.output", "node": "map", "path": "score", "op": "lt", "expected": 92},
     False, "step.output of 'map' at score: expected < 92, actual 92"),
    ({"target": "step.output", "node": "map", "path": "score", "op": "le", "expected": 92},
     True, "expected <= 92"),
    ({"target": "step.output", "node": "map", "path": "score", "op": "le", "expected": 91},
     False, "expected <= 91, actual 92"),
    ({"target": "step.output", "node": "map", "path": "score", "op": "gt", "expected": 80},
     True, "expected > 80, actual 92"),
    ({"target": "step.output", "node": "map", "path": "score", "op": "gt", "expected": 95},
     False, "expected > 95, actual 92"),
    ({"target": "step.output", "node": "map", "path": "score", "op": "ge", "expected": 92},
     True, "expected >= 92"),
    ({"target": "step.output", "node": "map", "path": "score", "op": "ge", "expected": 93},
     False, "expected >= 93, actual 92"),
    ({"target": "step.output", "node": "map", "path": "email", "op": "gt", "expected": 3},
     False, "cannot compare string with number"),
    ({"target": "run.result", "path": "tags", "op": "length_equals", "expected": 2}, True,
     "expected length 2"),
    ({"target": "run.result", "path": "tags", "op": "length_equals", "expected": 3}, False,
     'expected length 3, actual ["hot","b2b"] (length 2)'),
    ({"target": "step.duration_ms", "node": "map", "op": "length_equals", "expected": 1},
     False, "number has no length"),
    ({"target": "run.result", "path": "tags", "op": "type_is", "expected": "array"}, True,
     "expected type array"),
    ({"target": "step.output", "node": "map", "path": "score", "op": "type_is",
      "expected": "integer"}, True, "type number"),
    ({"target": "step.output", "node": "map", "path": "ok", "op": "type_is",
      "expected": "number"}, False, "expected type number, actual true (type boolean)"),
    ({"target": "step.status", "node": "notify", "op": "equals", "expected": "skipped"}, True,
     "step.status of 'notify'"),
    ({"target": "step.duration_ms", "node": "map", "op": "lt", "expected": 2000}, True,
     "step.duration_ms of 'map': expected < 2000, actual 2"),
    ({"target": "step.duration_ms", "node": "notify", "op": "lt", "expected": 2000}, False,
     "cannot compare null with number"),
]  # fmt: skip


@pytest.mark.parametrize(("assertion", "holds", "words"), CASES)
def test_every_op_holds_or_fails_with_expected_vs_actual(
    assertion: dict[str, Any], holds: bool, words: str
) -> None:
    result = one(**assertion)

    assert result["passed"] is holds, result
    assert words in result["message"], result["message"]
    assert set(result) == {
        "target", "node", "path", "op", "expected", "actual", "passed", "message",
    }  # fmt: skip


def test_every_op_is_covered_by_a_holding_and_a_failing_case() -> None:
    from testruns.assertions import OPS

    for op in OPS:
        outcomes = {holds for assertion, holds, _ in CASES if assertion["op"] == op}
        assert outcomes == {True, False}, op


def test_actual_is_the_value_the_path_selected() -> None:
    assert one(target="step.output", node="map", path="score", op="gt", expected=1)["actual"] == 92
    result = one(target="run.result", op="exists")
    assert result["actual"] == RUN.result
    assert result["node"] is None
    assert result["path"] is None


def test_equality_is_json_equality() -> None:
    assert json_equal(1, 1.0)
    assert not json_equal(True, 1)
    assert not json_equal(0, False)
    assert not json_equal("1", 1)
    assert json_equal({"a": [1, {"b": None}]}, {"a": [1.0, {"b": None}]})
    assert not json_equal({"a": 1}, {"a": 1, "b": 2})
    assert not one(target="step.output", node="map", path="ok", op="equals", expected=1)["passed"]


def test_a_loop_body_step_is_the_list_of_its_iterations() -> None:
    statuses = one(target="step.status", node="post", op="equals",
                   expected=["succeeded", "failed"])  # fmt: skip
    assert statuses["passed"] is True
    first = one(target="step.output", node="post", path="[0].n", op="equals", expected=0)
    assert first["passed"] is True
    failures = one(target="step.status", node="post", op="contains", expected="failed")
    assert failures["passed"] is True


def test_a_step_the_run_does_not_have() -> None:
    result = one(target="step.status", node="gone", op="equals", expected="succeeded")

    assert result["passed"] is False
    assert result["message"] == (
        "step.status of 'gone': no step 'gone' in this run; expected \"succeeded\""
    )
    assert one(target="step.output", node="gone", op="not_exists")["passed"] is True


def test_a_path_that_fails_at_run_time_is_a_failed_assertion() -> None:
    result = one(target="step.output", node="map", path="length(score)", op="equals",
                 expected=1)  # fmt: skip
    assert result["passed"] is False
    assert "path failed" in result["message"]


def test_a_catastrophic_pattern_is_stopped_with_a_clear_message() -> None:
    run = RunFacts(status="passed", result={"text": "a" * 40 + "!"})
    started = time.monotonic()

    (result,) = evaluate(
        [{"target": "run.result", "path": "text", "op": "matches", "expected": "(a|aa)+$"}], run
    )

    assert time.monotonic() - started < 2
    assert result["passed"] is False
    assert "stopped after 100 ms on a 41-character value" in result["message"]
    assert "backtracks too much" in result["message"]


def test_the_classic_nested_quantifier_cannot_hang_it_either() -> None:
    """`(a+)+$` on 'a'*30+'!' takes minutes with Python's `re`; here it is bounded (the
    regex engine even answers it at once: no match)."""
    run = RunFacts(status="passed", result="a" * 30 + "!")
    started = time.monotonic()

    (result,) = evaluate([{"target": "run.result", "op": "matches", "expected": "(a+)+$"}], run)

    assert time.monotonic() - started < 1
    assert result["passed"] is False
    assert 'expected to match /(a+)+$/, actual "aaaa' in result["message"]


def test_the_regex_budget_is_shared_by_the_whole_run() -> None:
    ticks = iter([0.0, 10.0, 10.0, 10.0])
    budget = RegexBudget(seconds=0.5, clock=lambda: next(ticks))
    assertion = {"target": "run.result", "op": "matches", "expected": "^a"}

    (result,) = evaluate([assertion], RunFacts(status="passed", result="abc"), budget=budget)

    assert result["passed"] is False
    assert "used up" in result["message"]


def test_big_actual_values_are_stored_cut() -> None:
    run = RunFacts(status="passed", result={"blob": "x" * 10_000})
    (result,) = evaluate([{"target": "run.result", "op": "exists"}], run)

    assert result["passed"] is True
    assert isinstance(result["actual"], str)
    assert result["actual"].endswith("(10,011 chars)")
    assert len(result["message"]) < 400


def test_not_evaluated_and_failed_first() -> None:
    pending = not_evaluated([{"target": "run.status", "op": "equals", "expected": "passed"}],
                            "the run was cancelled")  # fmt: skip
    assert pending[0]["passed"] is None
    assert pending[0]["message"] == "run.status: not evaluated, the run was cancelled"
    ordered = failed_first([{"passed": True, "n": 1}, {"passed": None, "n": 2},
                            {"passed": False, "n": 3}, {"passed": False, "n": 4}])  # fmt: skip
    assert [item["n"] for item in ordered] == [3, 4, 2, 1]


# --- validation ---------------------------------------------------------------------------


def paths(assertions: Any, nodes: set[str] | None = None) -> list[str]:
    return [problem.path for problem in validate(assertions, nodes)]


def test_a_valid_list_has_no_problem() -> None:
    assert validate([assertion for assertion, _, _ in CASES], None) == []


def test_every_problem_is_reported_with_its_path() -> None:
    problems = validate(
        [
            {"target": "run.status", "op": "equals", "expected": "passed"},
            {"target": "run.colour", "op": "equals", "expected": 1},
            {"target": "step.output", "op": "sorta", "expected": 1},
            {"target": "step.status", "node": "nope", "op": "equals", "expected": "ok"},
            {"target": "run.result", "path": "a[", "op": "matches", "expected": "(unclosed"},
            {"target": "run.result", "op": "exists", "expected": 3, "extra": True},
            {"target": "run.result", "op": "lt"},
            {"target": "run.status", "node": "map", "op": "type_is", "expected": "colour"},
            {"target": "run.result", "op": "length_equals", "expected": -1},
            "not an object",
        ],
        {"map", "notify"},
    )

    assert [(problem.path, problem.message) for problem in problems] == [
        ("assertions[1].target", "target must be one of run.status, run.result, step.status, "
         "step.output or step.duration_ms."),
        ("assertions[2].node", "step.output needs the node's id."),
        ("assertions[2].op", "op must be one of equals, not_equals, contains, matches, exists, "
         "not_exists, lt, le, gt, ge, length_equals or type_is."),
        ("assertions[3].node", "No node 'nope' in the workflow."),
        ("assertions[3].expected", "'ok' is not a status; use one of pending, running, "
         "succeeded, failed or skipped."),
        ("assertions[4].path", problems[5].message),
        ("assertions[4].expected", problems[6].message),
        ("assertions[5].extra", "Unknown field; expected one of target, node, path, op, expected."),
        ("assertions[5].expected", "exists takes no expected value."),
        ("assertions[6].expected", "lt needs an expected value."),
        ("assertions[7].node", "run.status is about the run: no node."),
        ("assertions[7].expected", "type_is takes one of string, number, integer, boolean, "
         "null, object or array."),
        ("assertions[8].expected", "A length cannot be negative."),
        ("assertions[9]", "An assertion is an object with target, op and expected."),
    ]  # fmt: skip
    assert problems[5].message.startswith("Not valid JMESPath")
    assert problems[6].message.startswith("Not a valid regular expression")


def test_assertions_must_be_a_list() -> None:
    assert paths({"target": "run.status"}) == ["assertions"]
    assert paths([{"target": "run.status", "op": "exists"}] * 101) == ["assertions"]
