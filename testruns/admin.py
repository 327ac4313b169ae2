"""Django admin for test-run history.

History is read-only here: runs, steps and events can be browsed, cancelled, re-run and
exported, never edited or deleted. The run list is built to stay fast over hundreds of
thousands of rows: no exact COUNT, no facet counts, no DISTINCT for the environment filter,
and no megabyte JSON columns loaded for a page of 100 rows. (The date hierarchy still asks
for the distinct years/months/days of the rows it spans; Django offers no hook to avoid it.)
"""

from __future__ import annotations

import json
import string
import uuid
from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import F, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import SafeString

from meshhook.admin import (
    CappedInlineFormSet,
    ReadOnlyInline,
    ReadOnlyModelAdmin,
    json_field,
    pretty_json,
)
from meshhook.engine import DefinitionError
from meshhook.models import Environment, Workflow
from testruns.models import ACTIVE_STATUSES, RunEvent, StepRun, TestRun
from testruns.parameters import ParameterError
from testruns.serializers import run_export
from testruns.services import RunStateError, cancel_run, rerun

EVENT_LIMIT = 1000
STEP_LIMIT = 500
RERUN_LIMIT = 100  # an action that starts work should not start a hundred thousand runs
EXPORT_LIMIT = 1000  # the export is built in memory


class EstimatedCountPaginator(Paginator):  # type: ignore[type-arg]
    """A paginator whose count never scans the whole table.

    PostgreSQL, unfiltered: the planner's estimate (pg_class.reltuples), exact enough for
    page links. Otherwise: count at most COUNT_CAP rows, so a broad filter costs a bounded
    index walk; past the cap the admin shows "10001 test runs" and pages up to there.
    A stale estimate only moves where the page links end; run ANALYZE if it matters.
    """

    COUNT_CAP = 10_001

    @cached_property
    def count(self) -> int:
        # The admin always paginates a QuerySet.
        queryset = cast(QuerySet[Any], self.object_list)
        connection = connections[queryset.db]
        if connection.vendor == "postgresql" and not queryset.query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [queryset.model._meta.db_table],
                )
                row = cursor.fetchone()
            # -1 means never analysed; a small table is cheaper to count exactly.
            if row and row[0] >= self.COUNT_CAP:
                return int(row[0])
        return int(queryset.order_by().values("pk")[: self.COUNT_CAP].count())


def id_prefix_range(term: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The UUIDs starting with `term` as a range, which uses the primary-key index where
    `startswith` on a uuid column would not."""
    digits = term.strip().lower().replace("-", "")
    if not 4 <= len(digits) <= 32 or not set(digits) <= set(string.hexdigits):
        return None
    return uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))


class ReadOnlyAdmin(ReadOnlyModelAdmin):
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    # Facet counts are a GROUP BY over every matching row.
    show_facets = admin.ShowFacets.NEVER


# Admin's own icons: colour without inline styles, which the CSP (style-src 'self') blocks.
STATUS_ICONS = {
    "passed": "yes",
    "succeeded": "yes",
    "failed": "no",
    "error": "no",
    "cancelled": "alert",
}


def status_badge(status: str) -> SafeString:
    icon = static(f"admin/img/icon-{STATUS_ICONS.get(status, 'unknown')}.svg")
    return format_html('<img src="{}" alt=""> {}', icon, status)


def run_link(run_id: Any) -> SafeString:
    url = reverse("admin:testruns_testrun_change", args=[run_id])
    return format_html('<a href="{}">{}</a>', url, str(run_id)[:8])


def console_link(run_id: Any) -> SafeString:
    """The run's own page in the console, where it can be watched, re-run and compared."""
    url = reverse("testrun_detail", args=[run_id])
    return format_html('<a href="{}">View in console</a>', url)


def format_duration(duration_ms: int | None) -> str:
    if duration_ms is None:
        return "—"
    return f"{duration_ms} ms" if duration_ms < 1000 else f"{duration_ms / 1000:.2f} s"


class EnvironmentNameFilter(admin.SimpleListFilter):
    title = "environment"
    parameter_name = "environment_name"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        # From the small environments table: the default DISTINCT over environment_name
        # would read every run. Runs of a deleted environment are still found by search.
        names = Environment.objects.order_by("name").values_list("name", flat=True).distinct()
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(environment_name=value) if value else queryset


class StepFormSet(CappedInlineFormSet):
    limit = STEP_LIMIT


# fmt: off
STEP_FIELDS = ("node_id", "iteration", "node_type", "label", "status", "mocked", "attempts",
               "duration_ms", "error")
# fmt: on


class StepRunInline(ReadOnlyInline):
    model = StepRun
    formset = StepFormSet
    fields = STEP_FIELDS
    readonly_fields = STEP_FIELDS
    show_change_link = True
    verbose_name_plural = f"Steps (first {STEP_LIMIT})"

    def get_queryset(self, request: HttpRequest) -> QuerySet[StepRun]:
        # Pending steps have no position yet and go last, as on the run page.
        return (
            super()
            .get_queryset(request)
            .defer("input", "output", "resolved_config", "http")
            .order_by(F("position").asc(nulls_last=True), "definition_index", "iteration")
        )


# fmt: off
RUN_FIELDS = ("id", "console_display", "status_display", "project", "workflow",
              "workflow_version", "environment_name", "mode", "triggered_by_display",
              "source_run", "from_step", "error")
# Narrow enough for 1440 px between the admin's navigation and its filters: short
# headers, compact values; the mode is a filter and on the change page.
RUN_COLUMNS = ("short_id", "workflow", "status_display", "environment_display",
               "triggered_by_display", "created_display", "duration_display", "steps_display",
               "console_display")
PARAMETER_FIELDS = ("payload_display", "headers_display", "breakpoints", "mocks_display")
# Computed or non-editable; the rest is shown read-only too, as nothing may change a run.
RUN_DISPLAYS = ("id", "console_display", "status_display", "triggered_by_display",
                "duration_display", "payload_display", "headers_display", "mocks_display",
                "summary_display", "result_display", "event_log")
# fmt: on


@admin.register(TestRun)
class TestRunAdmin(ReadOnlyAdmin):
    list_display = RUN_COLUMNS
    list_display_links = ["short_id"]
    list_select_related = ["workflow", "triggered_by"]
    list_filter = ["status", EnvironmentNameFilter, "mode", "source", "workflow"]
    # Only for the search box; get_search_results does the work.
    search_fields = ["workflow__slug", "workflow__name"]
    search_help_text = "Run id (or its first characters), workflow slug or name."
    # No date_hierarchy: with nothing chosen it runs a DISTINCT over every run's date, about
    # two seconds at 1,000,000 runs.
    ordering = ["-created_at"]
    list_deferred = ["payload", "headers", "mocks", "breakpoints", "result", "input_overrides"]
    inlines = [StepRunInline]
    actions = ["cancel_runs", "rerun_runs", "export_runs"]
    fieldsets = [
        (None, {"fields": RUN_FIELDS}),
        ("Timing", {"fields": ["created_at", "started_at", "completed_at", "duration_display"]}),
        ("Parameters", {"fields": PARAMETER_FIELDS}),
        ("Result", {"fields": ["summary_display", "result_display"]}),
        ("Event log", {"fields": ["event_log"]}),
    ]
    readonly_fields = RUN_DISPLAYS
    payload_display = json_field("payload", "Payload")
    mocks_display = json_field("mocks", "Mocks")
    result_display = json_field("result", "Result")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[TestRun], search_term: str
    ) -> tuple[QuerySet[TestRun], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        # A subquery on the small workflow table, then the run_by_workflow index.
        workflows = Workflow.objects.filter(Q(slug__icontains=term) | Q(name__icontains=term))
        matches = Q(workflow_id__in=workflows.values("id"))
        prefix = id_prefix_range(term)
        if prefix is not None:
            matches |= Q(id__range=prefix)
        return queryset.filter(matches), False

    def has_operate_permission(self, request: HttpRequest) -> bool:
        # has_change_permission is False to keep history read-only; controlling runs needs
        # the real change permission.
        codename = get_permission_codename("change", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    @admin.display(description="Run", ordering="-created_at")
    def short_id(self, obj: TestRun) -> str:
        return obj.short_id

    @admin.display(description="Status", ordering="status")
    def status_display(self, obj: TestRun) -> SafeString:
        return status_badge(obj.status)

    @admin.display(description="Headers")
    def headers_display(self, obj: TestRun) -> SafeString:
        # Credentials as the mask: they are stored encrypted, for the engine only.
        return pretty_json(obj.headers_shown())

    @admin.display(description="Triggered by")
    def triggered_by_display(self, obj: TestRun) -> str:
        return obj.triggered_by_label

    @admin.display(description="Env.", ordering="environment_name")
    def environment_display(self, obj: TestRun) -> str:
        return obj.environment_name

    # created_at, not started_at: it is the indexed column the list is ordered by.
    @admin.display(description="Created", ordering="created_at")
    def created_display(self, obj: TestRun) -> str:
        return timezone.localtime(obj.created_at).strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description="Steps ✓/✕/–")
    def steps_display(self, obj: TestRun) -> str:
        return self.summary_display(obj)

    @admin.display(description="Console")
    def console_display(self, obj: TestRun) -> SafeString:
        return console_link(obj.pk)

    @admin.display(description="Duration", ordering="duration_ms")
    def duration_display(self, obj: TestRun) -> str:
        return format_duration(obj.duration_ms)

    @admin.display(description="Succeeded/failed/skipped")
    def summary_display(self, obj: TestRun) -> str:
        counts = f"{obj.succeeded_count}/{obj.failed_count}/{obj.skipped_count}"
        return f"{counts} of {obj.total_steps}"

    @admin.display(description="Events")
    def event_log(self, obj: TestRun) -> SafeString:
        events = obj.events.order_by("seq").defer("data")[:EVENT_LIMIT]
        rows = [
            {
                "event": event,
                "ts": timezone.localtime(event.ts).isoformat(sep=" ", timespec="milliseconds"),
            }
            for event in events
        ]
        # seq is dense per run, so last_seq is the event count without a COUNT query.
        context = {"rows": rows, "limit": EVENT_LIMIT, "total": obj.last_seq}
        return render_to_string("admin/testruns/event_log.html", context)

    @admin.action(description="Cancel selected runs", permissions=["operate"])
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet[TestRun]) -> None:
        finished = queryset.exclude(status__in=ACTIVE_STATUSES).count()
        cancelled = 0
        for run in queryset.filter(status__in=ACTIVE_STATUSES):
            try:
                cancel_run(run, reason="Cancelled from the admin.")
            except RunStateError:
                finished += 1  # it finished between the query and the update
            else:
                cancelled += 1
        message = f"Cancelled {cancelled} run(s)."
        if finished:
            message += f" Skipped {finished} that had already finished."
        self.message_user(request, message, messages.SUCCESS if cancelled else messages.WARNING)

    @admin.action(description="Re-run selected runs", permissions=["operate"])
    def rerun_runs(self, request: HttpRequest, queryset: QuerySet[TestRun]) -> None:
        runs = list(
            queryset.defer(None).select_related("project", "workflow", "workflow_version")[
                : RERUN_LIMIT + 1
            ]
        )
        if len(runs) > RERUN_LIMIT:
            self.message_user(
                request, f"Select at most {RERUN_LIMIT} runs to re-run.", messages.ERROR
            )
            return
        started, failed = [], []
        for run in runs:
            try:
                new = rerun(run, user=request.user, source=TestRun.Source.CONSOLE)
            except (ParameterError, DefinitionError) as exc:
                # E.g. its environment was deleted since, or a stricter engine now
                # rejects the old version: report it and go on with the others.
                failed.append(f"{run.short_id}: {exc}")
            else:
                started.append(new.short_id)
        if started:
            self.message_user(request, f"Started {len(started)} re-run(s): {', '.join(started)}.")
        for failure in failed:
            self.message_user(request, f"Could not re-run {failure}", messages.ERROR)

    @admin.action(description="Export selected runs as JSON", permissions=["view"])
    def export_runs(self, request: HttpRequest, queryset: QuerySet[TestRun]) -> HttpResponse | None:
        runs = list(
            queryset.defer(None).select_related(
                "project", "workflow", "workflow_version", "triggered_by"
            )[: EXPORT_LIMIT + 1]
        )
        if len(runs) > EXPORT_LIMIT:
            self.message_user(
                request, f"Select at most {EXPORT_LIMIT} runs to export.", messages.ERROR
            )
            return None
        document = [run_export(run, request) for run in runs]
        response = HttpResponse(
            json.dumps(document, indent=2, ensure_ascii=False), content_type="application/json"
        )
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="test-runs-{stamp}.json"'
        return response


class RunRowAdmin(ReadOnlyAdmin):
    """Steps and events: found by their run's id, newest first by primary key (the models'
    (run, position, ...) orderings have no index to serve a whole-table list)."""

    ordering = ["-id"]
    search_fields = ["run__id"]  # shows the search box; get_search_results does the work
    search_help_text = "Run id (or its first characters)."

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        prefix = id_prefix_range(search_term)
        if prefix is None:
            return (queryset.none() if search_term.strip() else queryset), False
        return queryset.filter(run_id__range=prefix), False

    @admin.display(description="Run")
    def run_display(self, obj: Any) -> SafeString:
        return run_link(obj.run_id)


@admin.register(StepRun)
class StepRunAdmin(RunRowAdmin):
    list_display = ["node_id", "iteration", "run_display", "node_type", "status_display"]
    list_display += ["mocked", "attempts", "duration_ms"]
    list_deferred = ["input", "output", "resolved_config", "http"]
    exclude = list_deferred
    readonly_fields = ["input_display", "output_display", "config_display", "http_display"]
    input_display = json_field("input", "Input")
    output_display = json_field("output", "Output")
    config_display = json_field("resolved_config", "Resolved config (masked)")
    http_display = json_field("http", "HTTP exchanges (masked)")

    @admin.display(description="Status", ordering="status")
    def status_display(self, obj: StepRun) -> SafeString:
        return status_badge(obj.display_status)


@admin.register(RunEvent)
class RunEventAdmin(RunRowAdmin):
    list_display = ["seq", "ts", "run_display", "level", "type", "node_id", "message"]
    list_deferred = ["data"]
    exclude = ["data"]
    readonly_fields = ["data_display"]
    data_display = json_field("data", "Data")


# Test cases and suites (their own module, to keep this one readable).
from testruns import testcase_admin  # noqa: E402, F401
