"""Project-scoped getters for runs: outsiders get 404, never a hint the run exists; a
viewer who asks for a run to change gets 403."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from datetime import date, datetime

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils.dateparse import parse_date

from meshhook.engine import Problem
from meshhook.services.projects import AnyUser, can_edit, projects_for
from testruns.models import RunStatus, TestRun
from testruns.parameters import ParameterError

RUN_RELATED = ("workflow__project", "workflow_version", "environment", "triggered_by", "project")


def runs_for(user: AnyUser) -> QuerySet[TestRun]:
    return TestRun.objects.filter(project__in=projects_for(user))


def viewable_run_or_404(user: AnyUser, run_id: object) -> TestRun:
    """The run, if the user is a member of its project; Http404 otherwise."""
    try:
        key = uuid.UUID(str(run_id))
    except ValueError:
        raise Http404("No such test run.") from None
    run = runs_for(user).select_related(*RUN_RELATED).filter(pk=key).first()
    if run is None:
        raise Http404(f"No test run {key}.")
    return run


def editable_run_or_404(user: AnyUser, run_id: object) -> TestRun:
    """The run, if the user may change it (owner, editor); PermissionDenied (403) for a
    viewer, Http404 for anyone else."""
    run = viewable_run_or_404(user, run_id)
    if not can_edit(user, run.project):
        raise PermissionDenied("Viewers cannot control test runs.")
    return run


class CursorError(ValueError):
    pass


def encode_cursor(run: TestRun) -> str:
    key = json.dumps([run.created_at.isoformat(), str(run.id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, run_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        moment = datetime.fromisoformat(created_at)
        if moment.tzinfo is None:
            raise ValueError("naive timestamp")
        return moment, uuid.UUID(run_id)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise CursorError(
            "The cursor is not one this list returned; start again without it."
        ) from None


def keyset_page(
    runs: QuerySet[TestRun], cursor: str | None, limit: int
) -> tuple[list[TestRun], str | None]:
    """Newest first by (created_at, id); rows strictly after the cursor. No OFFSET and no
    count, so page 1,000 costs what page 1 costs and inserts never shift a page."""
    runs = runs.order_by("-created_at", "-id")
    if cursor:
        created, run_id = decode_cursor(cursor)
        # The redundant `<=` lets the database turn the OR into an index range scan.
        runs = runs.filter(created_at__lte=created).filter(
            Q(created_at__lt=created) | Q(created_at=created, id__lt=run_id)
        )
    page = list(runs[: limit + 1])
    next_cursor = encode_cursor(page[limit - 1]) if len(page) > limit else None
    return page[:limit], next_cursor


def keyset_page_before(
    runs: QuerySet[TestRun], before: str, limit: int
) -> tuple[list[TestRun], bool]:
    """The `limit` rows just newer than the cursor, newest first (the "Newer" page), and
    whether rows newer than those exist. The same index read backwards: still no OFFSET."""
    created, run_id = decode_cursor(before)
    newer = (
        runs.order_by("created_at", "id")
        .filter(created_at__gte=created)
        .filter(Q(created_at__gt=created) | Q(created_at=created, id__gt=run_id))
    )
    page = list(newer[: limit + 1])
    return page[:limit][::-1], len(page) > limit


def filter_runs(runs: QuerySet[TestRun], filters: Mapping[str, str]) -> QuerySet[TestRun]:
    """The history filters shared by the console and the API; bad values raise
    ParameterError naming the filter."""
    problems: list[Problem] = []
    if filters.get("workflow"):
        runs = runs.filter(workflow__slug=filters["workflow"])
    if filters.get("status"):
        statuses = [part.strip() for part in filters["status"].split(",") if part.strip()]
        unknown = [status for status in statuses if status not in RunStatus.values]
        if unknown:
            problems.append(
                Problem(
                    "status",
                    f"Unknown status {', '.join(unknown)}; use {', '.join(RunStatus.values)}.",
                )
            )
        runs = runs.filter(status__in=statuses)
    if filters.get("environment"):
        runs = runs.filter(environment_name=filters["environment"])
    triggered_by = filters.get("triggered_by")
    if triggered_by:
        if triggered_by in TestRun.Source.values:
            runs = runs.filter(source=triggered_by)
        else:
            runs = runs.filter(triggered_by__username=triggered_by)
    for name, lookup in (("since", "created_at__date__gte"), ("until", "created_at__date__lte")):
        if filters.get(name):
            day = _date(filters[name])
            if day is None:
                problems.append(Problem(name, f"'{filters[name]}' is not a date (YYYY-MM-DD)."))
            else:
                runs = runs.filter(**{lookup: day})
    if problems:
        raise ParameterError(problems)
    return runs


def _date(text: str) -> date | None:
    try:
        return parse_date(text)
    except ValueError:
        return None


def history_page(
    runs: QuerySet[TestRun], cursor: str | None, before: str | None, limit: int
) -> tuple[list[TestRun], str | None, str | None]:
    """A page of the history with the cursors of its "Older" and "Newer" links (None where
    there is nothing that way). A "Newer" page that reaches the newest run is the first
    page, so going back ends where the list started. A bad cursor gives the first page."""
    try:
        if before:
            page, more_newer = keyset_page_before(runs, before, limit)
            if more_newer:
                return page, encode_cursor(page[-1]), encode_cursor(page[0])
            cursor = None
        page, older = keyset_page(runs, cursor, limit)
    except CursorError:
        page, older = keyset_page(runs, None, limit)
        cursor = None
    return page, older, encode_cursor(page[0]) if cursor and page else None
