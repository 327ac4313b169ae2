"""Baselines: a test-case run must match a recorded run, step by step (DESIGN §8). Pure.

Each step's status and output are compared with the baseline run's; a difference is an
assertion result `{"target": "baseline", "node": "<step>", "path": "output.data.id", ...}`.
Left out: the compare page's volatile keys (timings, `Date`; `testruns.compare`) and the
test case's `volatile_paths`, glob-ish paths over `steps.<step>.output…`: `*` is any one
segment, `**` any number of them, `[*]` any list index; a path covers everything under
it, and a step segment without `[n]` names every iteration of a loop body step
(`steps.post.output.headers.date` covers `post[0]`, `post[1]`…).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from typing import Any

from meshhook.engine.problems import child_path
from testruns.assertions import StepFacts, compact, json_equal, stored_actual

MAX_DIFFERENCES = 50
MAX_VOLATILE_PATHS = 100
_SEGMENT = re.compile(r"[^.\[\]]+|\[[^\]]*\]")
_INDEX = re.compile(r"\[\d+\]")


def validate_volatile_paths(paths: Any, path: str = "volatile_paths") -> list[tuple[str, str]]:
    """(path, message) for every problem."""
    if not isinstance(paths, list):
        return [(path, "volatile_paths must be a list of paths like steps.*.output.headers.date.")]
    problems = []
    if len(paths) > MAX_VOLATILE_PATHS:
        problems.append((path, f"At most {MAX_VOLATILE_PATHS} volatile paths."))
    for index, item in enumerate(paths):
        where = child_path(path, index)
        if not isinstance(item, str) or not item.strip():
            problems.append((where, "A volatile path is a non-empty string."))
        elif not item.startswith(("steps.", "*.", "**")):
            problems.append(
                (where, "A volatile path starts with steps.<step>, e.g. steps.*.output.")
            )
    return problems


def segments(path: str) -> list[str]:
    """`steps.each.output[0].data` → `["steps", "each", "output", "[0]", "data"]`."""
    return _SEGMENT.findall(path)


def is_volatile(path: Sequence[str], patterns: Sequence[Sequence[str]]) -> bool:
    """`path` is `["steps", node, ("[i]",)? ...]`; a pattern without the iteration index
    covers every iteration of the step."""
    variants = [path]
    if len(path) > 2 and _INDEX.fullmatch(path[2]):
        variants.append([*path[:2], *path[3:]])
    return any(_match(variant, pattern) for variant in variants for pattern in patterns)


def _match(path: Sequence[str], pattern: Sequence[str]) -> bool:
    """Whether `pattern` matches `path` or one of its ancestors (a volatile path covers
    everything under it)."""
    if not pattern:
        return True
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match(path[start:], rest) for start in range(len(path) + 1))
    return bool(path) and _segment_matches(path[0], head) and _match(path[1:], rest)


def _segment_matches(segment: str, pattern: str) -> bool:
    if pattern.startswith("["):  # an index: `[2]`, or `[*]` for any
        return segment.startswith("[") and pattern in ("[*]", segment)
    return not segment.startswith("[") and fnmatch.fnmatchcase(segment, pattern)


def step_key(step: StepFacts) -> str:
    return step.node_id if step.iteration is None else f"{step.node_id}[{step.iteration}]"


def compare(
    steps: Sequence[StepFacts],
    baseline: Sequence[StepFacts],
    *,
    baseline_label: str,
    volatile_paths: Sequence[str] = (),
    volatile_keys: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """One failed result per difference (at most MAX_DIFFERENCES, then one that counts the
    rest), or a single passed result when the run matches its baseline."""
    patterns = [segments(path) for path in volatile_paths]
    mine = {step_key(step): step for step in steps}
    theirs = {step_key(step): step for step in baseline}
    keys = list(theirs) + [key for key in mine if key not in theirs]
    differences: list[dict[str, Any]] = []
    for key in keys:
        here, there = mine.get(key), theirs.get(key)
        sample = here or there
        assert sample is not None
        prefix = ["steps", sample.node_id]
        if sample.iteration is not None:
            prefix.append(f"[{sample.iteration}]")
        status_here = here.status if here else "absent"
        status_there = there.status if there else "absent"
        if status_here != status_there and not is_volatile([*prefix, "status"], patterns):
            differences.append(
                _difference(key, "status", status_there, status_here, baseline_label)
            )
        if here is None or there is None:
            continue
        for path, expected, actual in _diff(
            there.output, here.output, [*prefix, "output"], patterns, volatile_keys
        ):
            differences.append(_difference(key, _relative(path), expected, actual, baseline_label))
    if not differences:
        ignored = ", ".join(volatile_paths) if volatile_paths else "none"
        return [
            {
                "target": "baseline", "node": None, "path": None, "op": "equals",
                "expected": baseline_label, "actual": baseline_label, "passed": True,
                "message": f"Every step's status and output match baseline run {baseline_label} "
                f"(timings and Date headers ignored; volatile paths: {ignored}).",
            }
        ]  # fmt: skip
    if len(differences) > MAX_DIFFERENCES:
        more = len(differences) - MAX_DIFFERENCES
        differences = differences[:MAX_DIFFERENCES]
        differences.append(
            {
                "target": "baseline", "node": None, "path": None, "op": "equals",
                "expected": None, "actual": None, "passed": False,
                "message": f"…and {more} more differences from baseline run {baseline_label}.",
            }
        )  # fmt: skip
    return differences


def _relative(path: Sequence[str]) -> str:
    """`["steps", "create", "output", "data", "id"]` → `output.data.id`."""
    text = ""
    start = 3 if len(path) > 2 and _INDEX.fullmatch(path[2]) else 2
    for segment in path[start:]:
        text += segment if segment.startswith("[") else (f".{segment}" if text else segment)
    return text


def _diff(
    expected: Any,
    actual: Any,
    path: list[str],
    patterns: Sequence[Sequence[str]],
    volatile_keys: frozenset[str],
) -> list[tuple[list[str], Any, Any]]:
    if is_volatile(path, patterns):
        return []
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = []
        for key in list(expected) + [k for k in actual if k not in expected]:
            if str(key).lower() in volatile_keys:
                continue
            found += _diff(
                expected.get(key, _ABSENT), actual.get(key, _ABSENT), [*path, str(key)],
                patterns, volatile_keys,
            )  # fmt: skip
        return found
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        found = []
        for index, (left, right) in enumerate(zip(expected, actual, strict=True)):
            found += _diff(left, right, [*path, f"[{index}]"], patterns, volatile_keys)
        return found
    if expected is _ABSENT or actual is _ABSENT or not json_equal(expected, actual):
        return [(path, expected, actual)]
    return []


class _Absent:
    def __repr__(self) -> str:
        return "absent"


_ABSENT = _Absent()


def _difference(key: str, path: str, expected: Any, actual: Any, label: str) -> dict[str, Any]:
    def shown(value: Any) -> str:
        if value is _ABSENT:
            return "absent"
        text = compact(value)
        return text if len(text) <= 120 else f"{text[:120]}…"

    def kept(value: Any) -> Any:
        return None if value is _ABSENT else stored_actual(value)

    return {
        "target": "baseline",
        "node": key,
        "path": path,
        "op": "equals",
        "expected": kept(expected),
        "actual": kept(actual),
        "passed": False,
        "message": f"step '{key}' {path} differs from baseline run {label}: "
        f"expected {shown(expected)}, actual {shown(actual)}",
    }
