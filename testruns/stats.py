"""What the core app's workflow pages and API show about a workflow's test runs.

Installed into `meshhook.extensions` by `TestRunsConfig.ready`, so the core app can show
them without importing this app.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.http import HttpRequest

from meshhook.models import Workflow
from testruns.models import RunStatus, TestRun
from testruns.serializers import SUMMARY_RELATED, run_summary


def workflow_stats_json(workflow: Workflow, request: HttpRequest | None) -> dict[str, Any]:
    runs = TestRun.objects.filter(workflow=workflow)
    by_status = dict(
        runs.order_by()
        .values_list("status")
        .annotate(count=Count("id"))
        .values_list("status", "count")
    )
    last_run = runs.select_related(*SUMMARY_RELATED).order_by("-created_at", "-id").first()
    return {
        "runs": sum(by_status.values()),
        "by_status": {status: by_status.get(status, 0) for status in RunStatus.values},
        "last_run": run_summary(last_run, request) if last_run else None,
    }


def with_last_run(workflows: QuerySet[Workflow]) -> QuerySet[Workflow]:
    last_run = TestRun.objects.filter(workflow=OuterRef("pk")).order_by("-created_at", "-id")
    return workflows.annotate(
        last_run_status=Subquery(last_run.values("status")[:1]),
        last_run_at=Subquery(last_run.values("created_at")[:1]),
        last_run_id=Subquery(last_run.values("id")[:1]),
    )


def recent_runs(workflow: Workflow, limit: int) -> Sequence[TestRun]:
    return list(
        TestRun.objects.filter(workflow=workflow)
        .select_related("triggered_by", "workflow_version")
        .order_by("-created_at", "-id")[:limit]
    )
