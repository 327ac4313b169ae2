"""Two test runs side by side: what changed in the parameters and in each step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meshhook.strictjson import pretty
from testruns.models import PARAMETER_NAMES, StepRun, TestRun


@dataclass
class StepPair:
    key: str
    label: str
    left: StepRun | None
    right: StepRun | None
    left_json: str
    right_json: str

    @property
    def status_changed(self) -> bool:
        return _status(self.left) != _status(self.right)

    @property
    def output_changed(self) -> bool:
        return bool(_stable(_value(self.left)) != _stable(_value(self.right)))

    @property
    def changed(self) -> bool:
        return self.status_changed or self.output_changed


@dataclass
class ParameterPair:
    name: str
    left_json: str
    right_json: str

    @property
    def changed(self) -> bool:
        return self.left_json != self.right_json


def _status(step: StepRun | None) -> str:
    return step.display_status if step is not None else "absent"


def _key(step: StepRun) -> str:
    return step.node_id if step.iteration is None else f"{step.node_id}[{step.iteration}]"


# Differ on every run without meaning anything: timings and the server's clock.
VOLATILE_KEYS = {"duration_ms", "date"}


def _value(step: StepRun | None) -> Any:
    if step is None:
        return None
    return {"error": step.error} if step.error else step.output


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k.lower() not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [_stable(item) for item in value]
    return value


def _output(step: StepRun | None) -> str:
    value = _value(step)
    return pretty(value) if value is not None else ""


def compare_runs(left: TestRun, right: TestRun) -> dict[str, Any]:
    left_steps = {_key(s): s for s in left.steps.in_run_order()}
    right_steps = {_key(s): s for s in right.steps.in_run_order()}
    keys = list(left_steps) + [k for k in right_steps if k not in left_steps]
    steps = [
        StepPair(
            key=key,
            label=(left_steps.get(key) or right_steps[key]).label,
            left=left_steps.get(key),
            right=right_steps.get(key),
            left_json=_output(left_steps.get(key)),
            right_json=_output(right_steps.get(key)),
        )
        for key in keys
    ]
    parameters = [
        ParameterPair(
            name,
            pretty(left.shown_parameters[name]),
            pretty(right.shown_parameters[name]),
        )
        for name in PARAMETER_NAMES
    ]
    return {
        "left": left,
        "right": right,
        "steps": steps,
        "parameters": parameters,
        "changed_steps": sum(1 for pair in steps if pair.changed),
        "changed_parameters": sum(1 for pair in parameters if pair.changed),
        "same_version": left.workflow_version_id == right.workflow_version_id,
    }
