"""Two test runs as a diff: what changed in the parameters and in each step, from A (the
older run) to B (the newer), with everything that stayed the same counted and folded away.

JSON values are compared structurally: object keys by name, list items aligned with
difflib so that one inserted item is one addition rather than a change of every later
item. Text with line breaks is compared line by line with difflib. Keys that differ on
every run without meaning anything (VOLATILE_KEYS: timings, the server's clock, request
and run ids) are listed as ignored and never count as a difference.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from meshhook.strictjson import pretty
from testruns.models import PARAMETER_NAMES, StepRun, TestRun

# Keys of a step's output whose value changes from run to run by nature (compared case-
# insensitively). A run's own id comes back in echoed `X-MeshHook-Test-Run` headers, and
# webhook steps send `Idempotency-Key: <run id>:<node>`.
VOLATILE_KEYS = frozenset(
    {
        "duration_ms",
        "elapsed_ms",
        "date",
        "timestamp",
        "created_at",
        "updated_at",
        "started_at",
        "completed_at",
        "request_id",
        "x-request-id",
        "x-meshhook-test-run",
        "idempotency-key",
        "run_id",
    }
)
# A diff lists at most this many entries of each kind and counts the rest: a step output
# of 20,000 items must not become a page of 20,000 lines.
MAX_ENTRIES = 200
VALUE_CHARS = 2_000  # one shown value (old or new)
CONTEXT_LINES = 2  # unchanged lines kept around a changed line of text
MAX_LINES = 400
# Step rows drawn (a loop of 20,000 iterations is 20,000 step pairs); the rest are counted.
MAX_CHANGED_STEPS = 500
MAX_UNCHANGED_STEPS = 200

ChangeKind = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class Line:
    op: Literal["+", "-", " ", "…"]
    text: str

    @property
    def kind(self) -> str:
        return {"+": "add", "-": "del", " ": "ctx"}.get(self.op, "fold")


@dataclass(frozen=True)
class Change:
    path: str  # "" is the whole value
    kind: ChangeKind
    old: str = ""
    new: str = ""
    lines: tuple[Line, ...] = ()  # text with line breaks, line by line

    @property
    def inline(self) -> bool:
        """Short enough to read as `old → new` on one line."""
        return not self.lines and len(self.old) + len(self.new) <= 90


@dataclass(frozen=True)
class Same:
    path: str
    text: str


@dataclass
class ValueDiff:
    changes: list[Change] = field(default_factory=list)
    ignored: list[Change] = field(default_factory=list)
    unchanged: list[Same] = field(default_factory=list)
    changed_total: int = 0
    ignored_total: int = 0
    unchanged_total: int = 0

    @property
    def changed(self) -> bool:
        return self.changed_total > 0

    @property
    def changes_left_off(self) -> int:
        return self.changed_total - len(self.changes)

    @property
    def unchanged_left_off(self) -> int:
        return self.unchanged_total - len(self.unchanged)


def _text(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON: unlike `==`, `1`, `1.0` and `true` are three different values."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same, a, b))
    return bool(a == b)


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k.lower() not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [_stable(item) for item in value]
    return value


_NAME = re.compile(r"^[A-Za-z_][\w-]*$")


def _key_path(path: str, key: str) -> str:
    if _NAME.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _index_path(path: str, old: int, new: int) -> str:
    return f"{path}[{new}]" if old == new else f"{path}[{old}→{new}]"


def line_diff(old: str, new: str) -> tuple[Line, ...]:
    """Changed lines with CONTEXT_LINES of unchanged ones around them; longer unchanged
    stretches become one "… n unchanged lines" line."""
    a, b = old.splitlines(), new.splitlines()
    lines: list[Line] = []
    opcodes = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    for index, (op, i1, i2, j1, j2) in enumerate(opcodes):
        if op != "equal":
            lines += [Line("-", text) for text in a[i1:i2]]
            lines += [Line("+", text) for text in b[j1:j2]]
            continue
        same = a[i1:i2]
        head = 0 if index == 0 else CONTEXT_LINES
        tail = 0 if index == len(opcodes) - 1 else CONTEXT_LINES
        if len(same) <= head + tail + 1:
            lines += [Line(" ", text) for text in same]
            continue
        lines += [Line(" ", text) for text in same[:head]]
        folded = len(same) - head - tail
        lines.append(Line("…", f"{folded} unchanged line{'s' if folded != 1 else ''}"))
        lines += [Line(" ", text) for text in same[len(same) - tail :]]
    if len(lines) > MAX_LINES:
        lines = [*lines[:MAX_LINES], Line("…", f"{len(lines) - MAX_LINES} more lines")]
    return tuple(lines)


def text_change(path: str, old: str, new: str) -> Change:
    """Two texts (not JSON-quoted): line by line when either has several lines."""
    if not old:
        return Change(path, "added", new=new)
    if not new:
        return Change(path, "removed", old=old)
    lines = line_diff(old, new) if "\n" in old or "\n" in new else ()
    return Change(path, "changed", old=old, new=new, lines=lines)


class _Differ:
    def __init__(self, ignore_volatile: bool) -> None:
        self.ignore_volatile = ignore_volatile
        self.diff = ValueDiff()

    def change(self, change: Change, ignored: bool) -> None:
        diff = self.diff
        if ignored:
            diff.ignored_total += 1
            if len(diff.ignored) < MAX_ENTRIES:
                diff.ignored.append(change)
        else:
            diff.changed_total += 1
            if len(diff.changes) < MAX_ENTRIES:
                diff.changes.append(change)

    def same(self, path: str, value: Any) -> None:
        self.diff.unchanged_total += 1
        if len(self.diff.unchanged) < MAX_ENTRIES:
            self.diff.unchanged.append(Same(path, _text(value)))

    def walk(self, path: str, old: Any, new: Any, ignored: bool = False) -> None:
        if _same(old, new):
            if not ignored:
                self.same(path, new)
        elif isinstance(old, dict) and isinstance(new, dict):
            for key in [*old, *(key for key in new if key not in old)]:
                sub = _key_path(path, key)
                volatile = ignored or (self.ignore_volatile and key.lower() in VOLATILE_KEYS)
                if key not in new:
                    self.change(Change(sub, "removed", old=_text(old[key])), volatile)
                elif key not in old:
                    self.change(Change(sub, "added", new=_text(new[key])), volatile)
                else:
                    self.walk(sub, old[key], new[key], volatile)
        elif isinstance(old, list) and isinstance(new, list):
            self.walk_list(path, old, new, ignored)
        elif isinstance(old, str) and isinstance(new, str) and ("\n" in old or "\n" in new):
            lines = line_diff(old, new)
            self.change(Change(path, "changed", _text(old), _text(new), lines), ignored)
        else:
            self.change(Change(path, "changed", _text(old), _text(new)), ignored)

    def _canonical(self, value: Any) -> str:
        value = _stable(value) if self.ignore_volatile else value
        return json.dumps(value, sort_keys=True, default=str)

    def walk_list(self, path: str, old: list[Any], new: list[Any], ignored: bool) -> None:
        a = [self._canonical(item) for item in old]
        b = [self._canonical(item) for item in new]
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
            # Items side by side: equal ones (which may still differ in volatile keys), and
            # the common length of a replaced stretch.
            paired = i2 - i1 if op == "equal" else min(i2 - i1, j2 - j1) if op == "replace" else 0
            for k in range(paired):
                self.walk(_index_path(path, i1 + k, j1 + k), old[i1 + k], new[j1 + k], ignored)
            for i in range(i1 + paired, i2):
                self.change(Change(f"{path}[{i}]", "removed", old=_text(old[i])), ignored)
            for j in range(j1 + paired, j2):
                self.change(Change(f"{path}[{j}]", "added", new=_text(new[j])), ignored)


def diff_values(old: Any, new: Any, *, ignore_volatile: bool = True) -> ValueDiff:
    """What changed from `old` to `new`, key by key; a value that appears or disappears
    as a whole (None on one side) is one addition or removal."""
    differ = _Differ(ignore_volatile)
    if old is None and new is not None:
        differ.change(Change("", "added", new=_text(new)), False)
    elif new is None and old is not None:
        differ.change(Change("", "removed", old=_text(old)), False)
    else:
        differ.walk("", old, new)
    return differ.diff


@dataclass
class StepPair:
    key: str
    label: str
    left: StepRun | None
    right: StepRun | None
    output: ValueDiff
    error: Change | None

    @property
    def left_status(self) -> str:
        return _status(self.left)

    @property
    def right_status(self) -> str:
        return _status(self.right)

    @property
    def status_changed(self) -> bool:
        return self.left_status != self.right_status

    @property
    def output_changed(self) -> bool:
        return self.output.changed

    @property
    def changed(self) -> bool:
        return self.status_changed or self.output_changed or self.error is not None

    @property
    def only_in(self) -> str:
        """ "A" or "B" for a step only one run has."""
        return "B" if self.left is None else "A" if self.right is None else ""

    @property
    def duration_delta(self) -> int | None:
        if self.left is None or self.right is None:
            return None
        if self.left.duration_ms is None or self.right.duration_ms is None:
            return None
        return self.right.duration_ms - self.left.duration_ms


@dataclass
class ParameterPair:
    name: str
    diff: ValueDiff
    left_json: str
    right_json: str

    @property
    def changed(self) -> bool:
        return self.diff.changed


def _status(step: StepRun | None) -> str:
    return step.display_status if step is not None else "absent"


def _key(step: StepRun) -> str:
    return step.node_id if step.iteration is None else f"{step.node_id}[{step.iteration}]"


def _pair(key: str, left: StepRun | None, right: StepRun | None) -> StepPair:
    shown = left or right
    label = shown.label if shown is not None else key
    if left is None or right is None:  # only in one run: nothing to compare it with
        return StepPair(key, label, left, right, ValueDiff(), None)
    output = diff_values(left.output, right.output)
    error = text_change("error", left.error, right.error) if left.error != right.error else None
    return StepPair(key, label, left, right, output, error)


def _shown(steps: list[StepPair]) -> list[StepPair]:
    """The step pairs drawn, in run order: changed ones first in priority, up to a cap each."""
    shown: list[StepPair] = []
    changed = unchanged = 0
    for pair in steps:
        if pair.changed and changed < MAX_CHANGED_STEPS:
            changed += 1
            shown.append(pair)
        elif not pair.changed and unchanged < MAX_UNCHANGED_STEPS:
            unchanged += 1
            shown.append(pair)
    return shown


def compare_runs(left: TestRun, right: TestRun) -> dict[str, Any]:
    # Inputs, configs and HTTP exchanges are not compared: no need to load them.
    heavy = ("input", "resolved_config", "http")
    left_steps = {_key(s): s for s in left.steps.defer(*heavy).in_run_order()}
    right_steps = {_key(s): s for s in right.steps.defer(*heavy).in_run_order()}
    keys = list(left_steps) + [k for k in right_steps if k not in left_steps]
    steps = [_pair(key, left_steps.get(key), right_steps.get(key)) for key in keys]
    shown_left, shown_right = left.shown_parameters, right.shown_parameters
    # What a user typed is compared as typed: nothing in the parameters is volatile.
    parameters = [
        ParameterPair(
            name,
            diff_values(shown_left[name], shown_right[name], ignore_volatile=False),
            pretty(shown_left[name]),
            pretty(shown_right[name]),
        )
        for name in PARAMETER_NAMES
    ]
    changed_steps = sum(1 for pair in steps if pair.changed)
    changed_parameters = sum(1 for pair in parameters if pair.changed)
    shown = _shown(steps)
    return {
        "left": left,
        "right": right,
        "steps": steps,
        "shown_steps": shown,
        "steps_left_off": len(steps) - len(shown),
        "parameters": parameters,
        "changed_steps": changed_steps,
        "unchanged_steps": len(steps) - changed_steps,
        "changed_parameters": changed_parameters,
        "unchanged_parameters": len(parameters) - changed_parameters,
        "same_version": left.workflow_version_id == right.workflow_version_id,
    }
