"""What the run page shows, built once for the page, HTMX fragments and socket pushes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from meshhook.graphlayout import TYPE_NAMES, layout
from testruns.models import RunEvent, StepRun, StepStatus, TestRun

LARGE_JSON_CHARS = 4000


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


@dataclass
class StepView:
    step: StepRun
    type_name: str
    input_json: str
    output_json: str
    config_json: str
    http: list[dict[str, Any]]
    large: bool

    @property
    def status(self) -> str:
        return self.step.display_status


def step_view(step: StepRun) -> StepView:
    input_json = pretty_json(step.input) if step.input is not None else ""
    output_json = pretty_json(step.output) if step.output is not None else ""
    return StepView(
        step=step,
        type_name=TYPE_NAMES.get(step.node_type, step.node_type),
        input_json=input_json,
        output_json=output_json,
        config_json=pretty_json(step.resolved_config) if step.resolved_config is not None else "",
        http=[
            {
                **exchange,
                "request_json": pretty_json(exchange.get("request")),
                "response_json": pretty_json(exchange.get("response")),
            }
            for exchange in (step.http or [])
        ],
        large=len(input_json) + len(output_json) > LARGE_JSON_CHARS,
    )


def node_statuses(steps: list[StepRun]) -> dict[str, str]:
    """One colour per graph node; a loop body node shows its worst iteration."""
    rank = {"failed": 5, "running": 4, "mocked": 3, "succeeded": 2, "skipped": 1, "pending": 0}
    statuses: dict[str, str] = {}
    for step in steps:
        status = step.display_status
        if rank.get(status, 0) >= rank.get(statuses.get(step.node_id, "pending"), 0):
            statuses[step.node_id] = status
    return statuses


def waterfall(steps: list[StepRun]) -> dict[str, Any]:
    """Bars for the timing waterfall of the top-level steps that ran."""
    timed = [s for s in steps if s.started_at and s.iteration is None]
    if not timed:
        return {"rows": [], "height": 0, "total_ms": 0, "ticks": []}
    origin = min(s.started_at for s in timed if s.started_at)
    end_ms = 1
    rows: list[dict[str, Any]] = []
    for index, step in enumerate(timed):
        assert step.started_at is not None
        start = (step.started_at - origin).total_seconds() * 1000
        duration = step.duration_ms if step.duration_ms is not None else 0
        end_ms = max(end_ms, int(start + duration))
        rows.append({"step": step, "start_ms": start, "duration_ms": duration, "y": 8 + index * 24})
    label_w, chart_w = 150, 440
    for row in rows:
        row["x"] = label_w + row["start_ms"] / end_ms * chart_w
        row["w"] = max(3.0, row["duration_ms"] / end_ms * chart_w)
        row["text_y"] = row["y"] + 13
    ticks = [
        {"x": label_w + chart_w * fraction, "label": f"{int(end_ms * fraction)} ms"}
        for fraction in (0, 0.25, 0.5, 0.75, 1)
    ]
    return {
        "rows": rows,
        "height": 16 + len(rows) * 24 + 14,
        "total_ms": end_ms,
        "ticks": ticks,
        "label_w": label_w,
        "width": label_w + chart_w + 50,
    }


def run_context(run: TestRun, *, events_after: int | None = 0) -> dict[str, Any]:
    """Everything the run page's partials need. `events_after=None` loads no events.

    Events are read before the run's state, so the state drawn is at least as new as the
    last event shown: the page then never shows an old status next to a newer log line
    (after which the socket, resuming from that line, would have nothing left to send).
    """
    events = (
        list(RunEvent.objects.filter(run=run, seq__gt=events_after).order_by("seq"))
        if events_after is not None
        else []
    )
    if events:
        run.refresh_from_db()
    steps = run.steps.in_run_order()
    statuses = node_statuses(steps)
    next_node = run.paused_before if run.status == "paused" else ""
    next_step = next((s for s in steps if s.node_id == next_node and s.iteration is None), None)
    definition = run.workflow_version.definition
    return {
        "run": run,
        "steps": [step_view(s) for s in steps],
        "graph": layout(definition, statuses),
        "next_node": next_node,
        "next_step": step_view(next_step) if next_step else None,
        "events": events,
        "waterfall": waterfall(steps),
        "node_ids": [n["id"] for n in definition.get("nodes", []) if isinstance(n, dict)],
        "breakpoints": run.breakpoints,
        "parameters_json": pretty_json(run.shown_parameters),
        "pending": StepStatus.PENDING,
    }
