"""Hooks through which feature apps add to the core app's pages and API.

The core app (projects, workflows, environments) never imports a feature app. What the
workflow pages and API show about test runs comes from the functions `testruns` installs
here when it is ready (`TestRunsConfig.ready`); without it they show no runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest

from meshhook.models import Workflow


def _no_stats(workflow: Workflow, request: HttpRequest | None) -> dict[str, Any]:
    return {}


def _no_list_stats(workflows: Sequence[Workflow]) -> Mapping[int, Any]:
    return {}


def _no_page_stats(workflow: Workflow) -> Any:
    return None


def _no_runs(workflow: Workflow, limit: int) -> Sequence[Any]:
    return []


@dataclass
class Panel:
    """A card a feature adds to a core page: its template, rendered with `panel` set to
    `context` (`{% include panel.template with panel=panel.context %}`)."""

    template: str
    context: dict[str, Any] = field(default_factory=dict)


def _no_panels(workflow: Workflow, request: HttpRequest) -> Sequence[Panel]:
    return []


@dataclass
class WorkflowRuns:
    # `stats` of `GET /api/workflows/<slug>`.
    stats_json: Callable[[Workflow, HttpRequest | None], dict[str, Any]] = _no_stats
    # The workflow list: each listed workflow's run statistics by pk, in one query for all
    # of them (the template reads `pass_percent`, `p95_ms`, `sparkline`, `last_run`, ...).
    list_stats: Callable[[Sequence[Workflow]], Mapping[int, Any]] = _no_list_stats
    # The workflow page: the same figures and the exact number of runs; None shows none.
    page_stats: Callable[[Workflow], Any] = _no_page_stats
    # The workflow page's "Recent test runs".
    recent_runs: Callable[[Workflow, int], Sequence[Any]] = _no_runs
    # More cards on the workflow page (the feature's test cases).
    panels: Callable[[Workflow, HttpRequest], Sequence[Panel]] = _no_panels


@dataclass
class OpenApiPart:
    """Schemas and paths a feature adds to `/api/openapi.json`."""

    schemas: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, Any] = field(default_factory=dict)


workflow_runs = WorkflowRuns()
openapi_parts: list[OpenApiPart] = []
# Started once by the web process (meshhook.asgi), e.g. the test-run sweeper.
web_process_tasks: list[Callable[[], object]] = []


def start_web_process_tasks() -> None:
    for task in web_process_tasks:
        task()
