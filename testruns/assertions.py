"""Test-case assertions (DESIGN §8): validation with the JSON path of every problem, and
evaluation against a finished run. Pure: no Django; the run comes in as `RunFacts`.

An assertion is `{"target", "node"?, "path"?, "op", "expected"?}`. `target` picks a value
of the run (`run.status`, `run.result`) or of one step (`step.status`, `step.output`,
`step.duration_ms`, with `node`); `path` is JMESPath over that value; `op` compares it with
`expected`. A node inside a loop has one value per iteration: the target's value is then
the list of them, in iteration order (`path` can pick one: `[0]`).

Regular expressions (`matches`) run under the `regex` package's timeout, with a budget for
the whole evaluation, because evaluation happens inside the transaction that ends the run:
a catastrophic pattern is stopped and reported, it cannot hold the run's row.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import jmespath
import regex
from jmespath.exceptions import JMESPathError

from meshhook.engine import Limits, Problem
from meshhook.engine.expressions import ExpressionError, compile_expression
from meshhook.engine.problems import child_path

MAX_PATH_CHARS = Limits().max_expression_length
RUN_TARGETS = ("run.status", "run.result")
STEP_TARGETS = ("step.status", "step.output", "step.duration_ms")
TARGETS = (*RUN_TARGETS, *STEP_TARGETS)
OPS = (
    "equals", "not_equals", "contains", "matches", "exists", "not_exists",
    "lt", "le", "gt", "ge", "length_equals", "type_is",
)  # fmt: skip
NO_EXPECTED = frozenset({"exists", "not_exists"})
ORDERING = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}
JSON_TYPES = ("string", "number", "integer", "boolean", "null", "object", "array")
FIELDS = ("target", "node", "path", "op", "expected")
RUN_STATUSES = ("passed", "failed", "cancelled", "error")
STEP_STATUSES = ("pending", "running", "succeeded", "failed", "skipped")

MAX_ASSERTIONS = 100
MAX_PATH_LENGTH = 2_000
MAX_PATTERN_LENGTH = 1_000
# One `matches` may take this long; all of a run's together this long.
REGEX_TIMEOUT_SECONDS = 0.1
REGEX_BUDGET_SECONDS = 0.5
# An `actual` longer than this (as JSON) is stored as a cut JSON text.
MAX_ACTUAL_CHARS = 4_000
SHOWN_CHARS = 120


# --- validation ---------------------------------------------------------------------------


def validate(
    assertions: Any, node_ids: Collection[str] | None = None, path: str = "assertions"
) -> list[Problem]:
    """Every problem of an assertion list, each with its path (`assertions[2].op`).
    `node_ids`, when given, are the workflow's nodes that `node` may name."""
    if not isinstance(assertions, list):
        return [Problem(path, "Assertions must be a list of objects.")]
    problems: list[Problem] = []
    if len(assertions) > MAX_ASSERTIONS:
        problems.append(Problem(path, f"At most {MAX_ASSERTIONS} assertions per test case."))
    for index, item in enumerate(assertions):
        problems += validate_one(item, node_ids, child_path(path, index))
    return problems


def validate_one(item: Any, node_ids: Collection[str] | None, path: str) -> list[Problem]:
    if not isinstance(item, dict):
        return [Problem(path, "An assertion is an object with target, op and expected.")]
    problems = [
        Problem(child_path(path, key), f"Unknown field; expected one of {', '.join(FIELDS)}.")
        for key in item
        if key not in FIELDS
    ]
    target, op = item.get("target"), item.get("op")
    if target not in TARGETS:
        problems.append(
            Problem(child_path(path, "target"), f"target must be one of {_or(TARGETS)}.")
        )
    node = item.get("node")
    if target in STEP_TARGETS:
        if not isinstance(node, str) or not node:
            problems.append(Problem(child_path(path, "node"), f"{target} needs the node's id."))
        elif node_ids is not None and node not in node_ids:
            problems.append(Problem(child_path(path, "node"), f"No node '{node}' in the workflow."))
    elif target in RUN_TARGETS and node is not None:
        problems.append(Problem(child_path(path, "node"), f"{target} is about the run: no node."))
    if "path" in item and item["path"] is not None:
        problems += _validate_path(item["path"], child_path(path, "path"))
    if op not in OPS:
        problems.append(Problem(child_path(path, "op"), f"op must be one of {_or(OPS)}."))
    else:
        problems += _validate_expected(item, str(op), target, child_path(path, "expected"))
    return problems


def _validate_path(value: Any, path: str) -> list[Problem]:
    if not isinstance(value, str) or not value.strip():
        return [Problem(path, "path must be a JMESPath expression (a non-empty string).")]
    if len(value) > MAX_PATH_LENGTH:
        return [Problem(path, f"path is longer than {MAX_PATH_LENGTH} characters.")]
    try:
        jmespath.compile(value)
    except JMESPathError as exc:
        return [Problem(path, f"Not valid JMESPath: {_first_line(exc)}")]
    return []


def _validate_expected(item: dict[str, Any], op: str, target: Any, path: str) -> list[Problem]:
    if op in NO_EXPECTED:
        if item.get("expected") is not None:
            return [Problem(path, f"{op} takes no expected value.")]
        return []
    if "expected" not in item:
        return [Problem(path, f"{op} needs an expected value.")]
    expected = item["expected"]
    if op in ORDERING and not (_is_number(expected) or isinstance(expected, str)):
        return [Problem(path, f"{op} compares with a number (or a string).")]
    if op == "length_equals" and not (_is_number(expected) and float(expected).is_integer()):
        return [Problem(path, "length_equals needs a whole number.")]
    if op == "length_equals" and expected < 0:
        return [Problem(path, "A length cannot be negative.")]
    if op == "type_is" and expected not in JSON_TYPES:
        return [Problem(path, f"type_is takes one of {_or(JSON_TYPES)}.")]
    if op == "matches":
        if not isinstance(expected, str):
            return [Problem(path, "matches needs a regular expression (a string).")]
        if len(expected) > MAX_PATTERN_LENGTH:
            return [Problem(path, f"The pattern is longer than {MAX_PATTERN_LENGTH} characters.")]
        try:
            regex.compile(expected)
        except regex.error as exc:
            return [Problem(path, f"Not a valid regular expression: {exc}.")]
    statuses = {"run.status": RUN_STATUSES, "step.status": STEP_STATUSES}.get(str(target))
    bare = "path" not in item or item["path"] is None
    named = op in ("equals", "not_equals") and isinstance(expected, str)
    if statuses and bare and named and expected not in statuses:
        return [Problem(path, f"'{expected}' is not a status; use one of {_or(statuses)}.")]
    return []


# --- evaluation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StepFacts:
    node_id: str
    status: str
    output: Any = None
    duration_ms: int | None = None
    iteration: int | None = None


@dataclass(frozen=True)
class RunFacts:
    """What assertions look at: the workflow's own verdict, its result and its steps."""

    status: str
    result: Any = None
    steps: Sequence[StepFacts] = ()


@dataclass
class RegexBudget:
    """Time left for the `matches` of one evaluation."""

    seconds: float = REGEX_BUDGET_SECONDS
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def remaining(self) -> float:
        return max(0.0, self.seconds - (self.clock() - self.started))


class _Missing:
    """No such step in the run."""


MISSING = _Missing()


def evaluate(
    assertions: Sequence[dict[str, Any]], run: RunFacts, *, budget: RegexBudget | None = None
) -> list[dict[str, Any]]:
    """One result per assertion, in their order:
    `{"target", "node", "path", "op", "expected", "actual", "passed", "message"}`."""
    budget = budget or RegexBudget()
    return [evaluate_one(item, run, budget) for item in assertions]


def not_evaluated(assertions: Sequence[dict[str, Any]], reason: str) -> list[dict[str, Any]]:
    """Results for a run that ended before it could be judged (cancelled, error)."""
    return [
        _result(item, None, None, f"{_subject(item)}: not evaluated, {reason}")
        for item in assertions
    ]


def evaluate_one(item: dict[str, Any], run: RunFacts, budget: RegexBudget) -> dict[str, Any]:
    subject = _subject(item)
    value = _target_value(item, run)
    if value is MISSING:
        passed = item.get("op") == "not_exists"
        message = f"{subject}: no step '{item.get('node')}' in this run"
        return _result(item, None, passed, message + ("" if passed else f"; {_wanted(item)}"))
    actual = value
    if item.get("path"):
        try:
            # The engine's evaluation, bounded in bytes and time like a transform's.
            actual = compile_expression(item["path"], MAX_PATH_CHARS).search(value)
        except ExpressionError as exc:
            return _result(item, None, False, f"{subject}: path failed: {_first_line(exc)}")
    passed, problem = _check(str(item.get("op")), actual, item.get("expected"), budget)
    message = f"{subject}: {_wanted(item)}, actual {_show(actual)}"
    if problem:
        message += f" ({problem})"
    return _result(item, actual, passed, message)


def _target_value(item: dict[str, Any], run: RunFacts) -> Any:
    target = item.get("target")
    if target == "run.status":
        return run.status
    if target == "run.result":
        return run.result
    rows = [step for step in run.steps if step.node_id == item.get("node")]
    if not rows:
        return MISSING
    attribute = str(target).removeprefix("step.")
    iterations = [row for row in rows if row.iteration is not None]
    if iterations:
        iterations.sort(key=lambda row: row.iteration or 0)
        return [getattr(row, attribute) for row in iterations]
    return getattr(rows[0], attribute)


def _check(op: str, actual: Any, expected: Any, budget: RegexBudget) -> tuple[bool, str | None]:
    if op == "equals":
        return json_equal(actual, expected), None
    if op == "not_equals":
        return not json_equal(actual, expected), None
    if op == "exists":
        return actual is not None, None
    if op == "not_exists":
        return actual is None, None
    if op == "contains":
        return _contains(actual, expected)
    if op == "matches":
        return _matches(actual, expected, budget)
    if op in ORDERING:
        return _ordered(op, actual, expected)
    if op == "length_equals":
        if not isinstance(actual, (str, list, dict)):
            return False, f"{json_type(actual)} has no length"
        return len(actual) == expected, f"length {len(actual)}"
    if op == "type_is":
        kind = json_type(actual)
        passed = kind == expected or (expected == "integer" and _is_integer(actual))
        return passed, f"type {kind}"
    return False, f"unknown op {op!r}"


def _contains(actual: Any, expected: Any) -> tuple[bool, str | None]:
    if isinstance(actual, str):
        if not isinstance(expected, str):
            return False, "a string contains only strings"
        return expected in actual, None
    if isinstance(actual, list):
        return any(json_equal(element, expected) for element in actual), None
    if isinstance(actual, dict):
        if not isinstance(expected, str):
            return False, "an object contains keys, which are strings"
        return expected in actual, None
    return False, f"{json_type(actual)} contains nothing"


def _matches(actual: Any, pattern: Any, budget: RegexBudget) -> tuple[bool, str | None]:
    if not isinstance(actual, str):
        return False, f"{json_type(actual)} is not a string"
    if not isinstance(pattern, str):
        return False, "the pattern is not a string"
    allowed = min(REGEX_TIMEOUT_SECONDS, budget.remaining())
    if allowed <= 0:
        return False, "not tried: the run's time for regular expressions is used up"
    try:
        return regex.search(pattern, actual, timeout=allowed) is not None, None
    except TimeoutError:
        return False, (
            f"stopped after {allowed * 1000:.0f} ms on a {len(actual):,}-character value: the "
            "pattern backtracks too much (nested repetition like (a+)+ or (a|aa)+?)"
        )
    except regex.error as exc:
        return False, f"not a valid regular expression: {exc}"


def _ordered(op: str, actual: Any, expected: Any) -> tuple[bool, str | None]:
    comparable = (_is_number(actual) and _is_number(expected)) or (
        isinstance(actual, str) and isinstance(expected, str)
    )
    if not comparable:
        return False, f"cannot compare {json_type(actual)} with {json_type(expected)}"
    results = {
        "lt": actual < expected,
        "le": actual <= expected,
        "gt": actual > expected,
        "ge": actual >= expected,
    }
    return bool(results[op]), None


# --- JSON helpers -------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    return _is_number(value) and float(value).is_integer()


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if _is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def json_equal(left: Any, right: Any) -> bool:
    """Equality as JSON means it: `true` is not `1`, `1` is `1.0`."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(json_equal, left, right))
    return type(left) is type(right) and bool(left == right)


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _show(value: Any) -> str:
    text = compact(value)
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}… ({len(text):,} chars)"


def stored_actual(value: Any) -> Any:
    """The value as kept in the run's results: itself, or cut JSON text when it is big."""
    text = compact(value)
    if len(text) <= MAX_ACTUAL_CHARS:
        return value
    return f"{text[:MAX_ACTUAL_CHARS]}… ({len(text):,} chars)"


# --- messages -----------------------------------------------------------------------------


def _subject(item: dict[str, Any]) -> str:
    subject = str(item.get("target"))
    if item.get("node"):
        subject += f" of '{item['node']}'"
    if item.get("path"):
        subject += f" at {item['path']}"
    return subject


def _wanted(item: dict[str, Any]) -> str:
    op, expected = item.get("op"), item.get("expected")
    shown = _show(expected)
    phrases = {
        "equals": f"expected {shown}",
        "not_equals": f"expected anything but {shown}",
        "contains": f"expected to contain {shown}",
        "matches": f"expected to match /{expected}/",
        "exists": "expected a value",
        "not_exists": "expected no value",
        "length_equals": f"expected length {shown}",
        "type_is": f"expected type {expected}",
    }
    if op in ORDERING:
        return f"expected {ORDERING[str(op)]} {shown}"
    return phrases.get(str(op), f"expected {op} {shown}")


def _result(item: dict[str, Any], actual: Any, passed: bool | None, message: str) -> dict[str, Any]:
    return {
        "target": item.get("target"),
        "node": item.get("node"),
        "path": item.get("path"),
        "op": item.get("op"),
        "expected": item.get("expected"),
        "actual": stored_actual(actual),
        "passed": passed,
        "message": message,
    }


def failed_first(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Failed results first, then those not evaluated, then the passed ones; stable."""
    rank = {False: 0, None: 1, True: 2}
    return sorted(results, key=lambda result: rank.get(result.get("passed"), 1))


def _or(values: Sequence[str]) -> str:
    return ", ".join(values[:-1]) + f" or {values[-1]}"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
