"""Project-scoped getters for runs: outsiders get 404, never a hint the run exists."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from meshhook.services.projects import projects_for
from testruns.models import TestRun


def runs_for(user: Any) -> QuerySet[TestRun]:
    return TestRun.objects.filter(project__in=projects_for(user))


def run_for_user_or_404(user: Any, run_id: Any) -> TestRun:
    try:
        key = uuid.UUID(str(run_id))
    except ValueError:
        raise Http404("No such test run.") from None
    run = (
        runs_for(user)
        .select_related("workflow", "workflow_version", "environment", "triggered_by", "project")
        .filter(pk=key)
        .first()
    )
    if run is None:
        raise Http404("No such test run.")
    return run


def user_can_view_run(user: Any, run_id: Any) -> bool:
    try:
        run_for_user_or_404(user, run_id)
    except Http404:
        return False
    return True


class CursorError(ValueError):
    pass


def encode_cursor(run: TestRun) -> str:
    raw = f"{run.created_at.isoformat()}|{run.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, _, run_id = base64.urlsafe_b64decode(padded.encode()).decode().partition("|")
        return datetime.fromisoformat(created), uuid.UUID(run_id)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise CursorError("The cursor is not one this API returned.") from None


def keyset_page(
    runs: QuerySet[TestRun], cursor: str | None, limit: int
) -> tuple[list[TestRun], str | None]:
    """Newest first by (created_at, id); no OFFSET and no count, so deep pages stay cheap."""
    runs = runs.order_by("-created_at", "-id")
    if cursor:
        created, run_id = decode_cursor(cursor)
        runs = runs.filter(Q(created_at__lt=created) | Q(created_at=created, id__lt=run_id))
    page = list(runs[: limit + 1])
    next_cursor = encode_cursor(page[limit - 1]) if len(page) > limit else None
    return page[:limit], next_cursor


def filter_runs(runs: QuerySet[TestRun], filters: dict[str, str]) -> QuerySet[TestRun]:
    """The history filters shared by the console and the API."""
    if filters.get("workflow"):
        runs = runs.filter(workflow__slug=filters["workflow"])
    if filters.get("status"):
        runs = runs.filter(status=filters["status"])
    if filters.get("environment"):
        runs = runs.filter(environment_name=filters["environment"])
    triggered_by = filters.get("triggered_by")
    if triggered_by:
        if triggered_by in TestRun.Source.values:
            runs = runs.filter(source=triggered_by)
        else:
            runs = runs.filter(triggered_by__username=triggered_by)
    if filters.get("since"):
        runs = runs.filter(created_at__date__gte=filters["since"])
    if filters.get("until"):
        runs = runs.filter(created_at__date__lte=filters["until"])
    return runs
