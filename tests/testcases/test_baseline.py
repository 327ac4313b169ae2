"""Baselines: a run passes when every step matches the baseline run, fails on a changed
status or output, and ignores timings, Date headers and the case's volatile paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from testruns.assertions import StepFacts
from testruns.baseline import compare, is_volatile, segments
from testruns.compare import VOLATILE_KEYS
from testruns.models import RunStatus
from tests.factories import Team
from tests.testcases.helpers import make_case, run_case

KEYS = frozenset(VOLATILE_KEYS)


def steps(**outputs: Any) -> list[StepFacts]:
    return [StepFacts(node, "succeeded", output) for node, output in outputs.items()]


def test_identical_runs_match() -> None:
    (result,) = compare(steps(a={"x": 1}), steps(a={"x": 1}), baseline_label="1a2b3c4d")

    assert result["passed"] is True
    assert result["target"] == "baseline"
    assert "match baseline run 1a2b3c4d" in result["message"]


def test_a_changed_output_is_one_failed_result_per_difference() -> None:
    results = compare(
        steps(create={"data": {"id": "ct_2", "n": 1}}, done={"ok": True}),
        steps(create={"data": {"id": "ct_1", "n": 1}}, done={"ok": True}),
        baseline_label="1a2b3c4d",
    )

    assert results == [
        {
            "target": "baseline", "node": "create", "path": "output.data.id", "op": "equals",
            "expected": "ct_1", "actual": "ct_2", "passed": False,
            "message": "step 'create' output.data.id differs from baseline run 1a2b3c4d: "
            'expected "ct_1", actual "ct_2"',
        }
    ]  # fmt: skip


def test_a_changed_status_and_a_missing_step_are_differences() -> None:
    mine = [StepFacts("a", "failed", None), StepFacts("new", "succeeded", 1)]
    theirs = [StepFacts("a", "succeeded", {"x": 1}), StepFacts("old", "succeeded", 2)]

    results = compare(mine, theirs, baseline_label="b")

    assert [(r["node"], r["path"], r["expected"], r["actual"]) for r in results] == [
        ("a", "status", "succeeded", "failed"),
        ("a", "output", {"x": 1}, None),
        ("old", "status", "succeeded", "absent"),
        ("new", "status", "absent", "succeeded"),
    ]


def test_timings_and_date_headers_never_count() -> None:
    mine = steps(call={"status": 200, "duration_ms": 5, "headers": {"Date": "Tue"}})
    theirs = steps(call={"status": 200, "duration_ms": 900, "headers": {"Date": "Mon"}})

    assert compare(mine, theirs, baseline_label="b", volatile_keys=KEYS)[0]["passed"] is True


def test_volatile_paths_are_ignored() -> None:
    mine = steps(call={"headers": {"x-request-id": "r2", "etag": "2"}, "data": {"at": 2}})
    theirs = steps(call={"headers": {"x-request-id": "r1", "etag": "1"}, "data": {"at": 1}})

    results = compare(
        mine, theirs, baseline_label="b",
        volatile_paths=["steps.*.output.headers.x-request-id", "steps.call.output.data"],
    )  # fmt: skip

    assert [r["path"] for r in results] == ["output.headers.etag"]
    everything = compare(mine, theirs, baseline_label="b", volatile_paths=["steps.call.**"])
    assert everything[0]["passed"] is True


def test_volatile_path_patterns() -> None:
    patterns = [segments(p) for p in ["steps.*.output.headers.date", "steps.post[1].output"]]

    assert is_volatile(["steps", "create", "output", "headers", "date"], patterns)
    assert not is_volatile(["steps", "create", "output", "headers", "etag"], patterns)
    # A pattern without an index covers every iteration of a loop body step.
    assert is_volatile(["steps", "post", "[3]", "output", "headers", "date"], patterns)
    assert is_volatile(["steps", "post", "[1]", "output", "id"], patterns)
    assert not is_volatile(["steps", "post", "[2]", "output", "id"], patterns)
    assert is_volatile(["steps", "a", "output", "[0]", "x"], [segments("**.x")])


def test_loop_iterations_are_compared_one_by_one() -> None:
    mine = [StepFacts("post", "succeeded", {"id": 1}, iteration=0),
            StepFacts("post", "succeeded", {"id": 3}, iteration=1)]  # fmt: skip
    theirs = [StepFacts("post", "succeeded", {"id": 1}, iteration=0),
              StepFacts("post", "succeeded", {"id": 2}, iteration=1)]  # fmt: skip

    (result,) = compare(mine, theirs, baseline_label="b")

    assert (result["node"], result["path"]) == ("post[1]", "output.id")


def test_too_many_differences_are_counted_not_listed() -> None:
    many = {f"k{i}": i for i in range(60)}
    results = compare(steps(a=many), steps(a=dict.fromkeys(many, -1)), baseline_label="b")

    assert len(results) == 51
    assert results[-1]["message"] == "…and 10 more differences from baseline run b."


# --- end to end: a run judged against its baseline ----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_run_that_matches_its_baseline_passes(team: Team, drain: Callable[[], int]) -> None:
    recorded = run_case(make_case(team.workflow, name="recording"), drain)
    case = make_case(team.workflow, name="same", baseline_run=str(recorded.id))

    run = run_case(case, drain)

    assert run.status == RunStatus.PASSED, run.error
    (result,) = run.assertion_results
    assert result["target"] == "baseline"
    assert result["passed"] is True


@pytest.mark.django_db(transaction=True)
def test_a_changed_output_fails_the_run_and_names_the_difference(
    team: Team, drain: Callable[[], int]
) -> None:
    recorded = run_case(make_case(team.workflow, name="recording"), drain)
    case = make_case(
        team.workflow, name="changed", baseline_run=str(recorded.id),
        payload={"name": "Grace", "score": 90},
    )  # fmt: skip

    run = run_case(case, drain)

    assert run.status == RunStatus.FAILED
    differences = [r for r in run.assertion_results if r["passed"] is False]
    assert {(r["node"], r["path"]) for r in differences} == {
        ("hook", "output.body.name"),
        ("map", "output.name"),
        ("hot", "output.name"),  # a branch passes its input on
    }
    assert "step 'map' output.name differs from baseline run" in run.error
    assert 'expected "Ada", actual "Grace"' in run.error
    assert run.events.get(type="run_finished").message.startswith("Test run failed: ")


@pytest.mark.django_db(transaction=True)
def test_volatile_paths_keep_a_changed_value_from_failing_the_run(
    team: Team, drain: Callable[[], int]
) -> None:
    recorded = run_case(make_case(team.workflow, name="recording"), drain)
    case = make_case(
        team.workflow, name="volatile", baseline_run=str(recorded.id),
        payload={"name": "Grace", "score": 90},
        volatile_paths=["steps.*.output.name", "steps.hook.output.body.name"],
    )  # fmt: skip

    run = run_case(case, drain)

    assert run.status == RunStatus.PASSED, run.error
