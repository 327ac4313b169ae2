"""Django admin for test cases and suites (imported by testruns/admin.py).

Test cases are browsed and deleted here but changed through the API or the console, where
every field is validated against the workflow; suites are history, read-only like runs.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from meshhook.admin import ReadOnlyInline, json_field
from testruns.admin import ReadOnlyAdmin, format_duration, run_link, status_badge
from testruns.models import TestRun
from testruns.testcase_models import TestCase, TestSuiteRun

CASE_FIELDS = ("id", "workflow", "name", "description", "environment_name", "baseline_run",
               "replay_from_run", "created_at", "updated_at", "created_by")  # fmt: skip
CASE_JSON = ("payload_display", "headers_display", "mocks_display", "assertions_display",
             "volatile_paths_display")  # fmt: skip

SUITE_FIELDS = ("id", "project", "workflow", "environment", "status_display", "source",
                "triggered_by", "created_at", "started_at", "completed_at", "duration_display",
                "total", "passed_count", "failed_count", "error_count",
                "start_errors_display")  # fmt: skip


@admin.register(TestCase)
class TestCaseAdmin(ReadOnlyAdmin):
    list_display = ["name", "workflow", "environment_name", "assertion_count", "updated_at"]
    list_select_related = ["workflow"]
    list_filter = ["workflow"]
    search_fields = ["name", "workflow__slug"]
    ordering = ["workflow__slug", "name"]
    fields = (*CASE_FIELDS, *CASE_JSON)
    readonly_fields = fields
    payload_display = json_field("payload", "Payload")
    headers_display = json_field("headers", "Headers")
    mocks_display = json_field("mocks", "Mocks")
    assertions_display = json_field("assertions", "Assertions")
    volatile_paths_display = json_field("volatile_paths", "Volatile paths")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting a case keeps its runs (they lose the link); the real permission decides.
        return admin.ModelAdmin.has_delete_permission(self, request, obj)

    @admin.display(description="Assertions")
    def assertion_count(self, obj: TestCase) -> int:
        return len(obj.assertions)


class SuiteRunInline(ReadOnlyInline):
    model = TestRun
    fields = ("run_display", "test_case", "workflow", "status_display", "duration_ms", "error")
    readonly_fields = fields
    verbose_name_plural = "Runs"

    def get_queryset(self, request: HttpRequest) -> QuerySet[TestRun]:
        return super().get_queryset(request).select_related("test_case", "workflow").only(
            "id", "status", "duration_ms", "error", "test_case__name", "workflow__slug",
            "workflow__name", "suite_id",
        )  # fmt: skip

    @admin.display(description="Run")
    def run_display(self, obj: TestRun) -> SafeString:
        return run_link(obj.pk)

    @admin.display(description="Status")
    def status_display(self, obj: TestRun) -> SafeString:
        return status_badge(obj.status)


@admin.register(TestSuiteRun)
class TestSuiteRunAdmin(ReadOnlyAdmin):
    list_display = ["short_id", "project", "workflow", "status_display", "source",
                    "pass_rate_display", "duration_display", "created_at"]  # fmt: skip
    list_select_related = ["project", "workflow"]
    list_filter = ["status", "source", "project"]
    ordering = ["-created_at"]
    date_hierarchy = "created_at"
    inlines = [SuiteRunInline]
    fields = SUITE_FIELDS
    readonly_fields = fields
    start_errors_display = json_field("start_errors", "Could not start")

    @admin.display(description="Suite", ordering="-created_at")
    def short_id(self, obj: TestSuiteRun) -> str:
        return str(obj.id)[:8]

    @admin.display(description="Status", ordering="status")
    def status_display(self, obj: TestSuiteRun) -> SafeString:
        return status_badge(obj.status)

    @admin.display(description="Pass rate")
    def pass_rate_display(self, obj: TestSuiteRun) -> str:
        rate = obj.pass_rate
        return "—" if rate is None else f"{rate:.0%} ({obj.passed_count}/{obj.total})"

    @admin.display(description="Duration", ordering="duration_ms")
    def duration_display(self, obj: TestSuiteRun) -> str:
        return format_duration(obj.duration_ms)
