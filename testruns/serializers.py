"""Test runs as the JSON shapes of DESIGN §7: pure functions from models to dicts.

The API, exports and any other tool read these, so a field means the same everywhere.
Timestamps are ISO 8601 in UTC; empty error text is `null`, not `""`.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from meshhook.timefmt import iso
from testruns.assertions import failed_first
from testruns.models import RunEvent, StepRun, TestRun

EXPORT_FORMAT = "meshhook.test-run/1"
# What `run_summary` reads through foreign keys: select them to avoid a query per row.
SUMMARY_RELATED = ("workflow", "workflow_version", "project", "triggered_by")


def run_page_path(run_id: Any) -> str:
    return f"/test-runs/{run_id}/"


def run_socket_path(run_id: Any) -> str:
    return f"/ws/test-runs/{run_id}/"


def run_links(run: TestRun, request: HttpRequest | None = None) -> dict[str, str]:
    """`url` (the console page) and `ws_url` (its live socket); absolute when a request is given."""
    page, socket = run_page_path(run.id), run_socket_path(run.id)
    if request is None:
        return {"url": page, "ws_url": socket}
    scheme = "wss" if request.is_secure() else "ws"
    return {
        "url": request.build_absolute_uri(page),
        "ws_url": f"{scheme}://{request.get_host()}{socket}",
    }


def run_summary(run: TestRun, request: HttpRequest | None = None) -> dict[str, Any]:
    """A list item; callers should `select_related(*SUMMARY_RELATED)`."""
    return {
        "id": str(run.id),
        "project": run.project.slug,
        "workflow": run.workflow.slug,
        "workflow_name": run.workflow.name,
        "workflow_version": run.workflow_version.number,
        "status": run.status,
        "environment": run.environment_name,
        "mode": run.mode,
        "triggered_by": run.triggered_by_label,
        "source": run.source,
        "user": run.triggered_by.get_username() if run.triggered_by is not None else None,
        "source_run": str(run.source_run_id) if run.source_run_id else None,
        "from_step": run.from_step or None,
        "created_at": iso(run.created_at),
        "started_at": iso(run.started_at),
        "completed_at": iso(run.completed_at),
        "duration_ms": run.duration_ms,
        "paused_before": run.paused_before or None,
        "error": run.error or None,
        "summary": {
            "total": run.total_steps,
            "succeeded": run.succeeded_count,
            "failed": run.failed_count,
            "skipped": run.skipped_count,
        },
        **run_links(run, request),
    }


def run_detail(
    run: TestRun, request: HttpRequest | None = None, *, full: bool = False
) -> dict[str, Any]:
    return {
        **run_summary(run, request),
        "parameters": run.shown_parameters,
        "result": run.result,
        "steps": [step_json(step, full=full) for step in run.steps.in_run_order()],
        # DESIGN §8: the test case the run checks, and its assertions, failed ones first.
        "test_case": str(run.test_case_id) if run.test_case_id else None,
        "assertions": failed_first(run.assertion_results),
    }


def step_json(step: StepRun, *, full: bool = False) -> dict[str, Any]:
    """`full` adds what the detail leaves out for size: the resolved (masked) config and the
    masked HTTP exchanges."""
    data: dict[str, Any] = {
        "node_id": step.node_id,
        "type": step.node_type,
        "label": step.label,
        "status": step.status,
        "mocked": step.mocked,
        "attempts": step.attempts,
        "started_at": iso(step.started_at),
        "completed_at": iso(step.completed_at),
        "duration_ms": step.duration_ms,
        "input": step.input,
        "output": step.output,
        "error": step.error or None,
        "iteration": step.iteration,
        "parent": step.parent_node_id or None,
        "reused": step.reused,
        "input_overridden": step.input_overridden,
        "branch": step.branch,
    }
    if full:
        data["resolved_config"] = step.resolved_config
        data["http"] = step.http
    return data


def event_json(event: RunEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "ts": iso(event.ts),
        "type": event.type,
        "node_id": event.node_id or None,
        "iteration": event.iteration,
        "level": event.level,
        "message": event.message,
        "data": event.data,
    }


def run_export(run: TestRun, request: HttpRequest | None = None) -> dict[str, Any]:
    """The whole run as one document: detail, every event, and the definition it ran."""
    return {
        "format": EXPORT_FORMAT,
        "exported_at": iso(timezone.now()),
        **run_detail(run, request, full=True),
        "events": [event_json(event) for event in run.events.order_by("seq")],
        "definition": run.workflow_version.definition,
    }
