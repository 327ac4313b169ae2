"""Routes of the test-run JSON API (DESIGN §7), mounted under `api/` by meshhook/urls.py."""

from __future__ import annotations

from django.urls import path

from testruns import api, suite_api, testcase_api

urlpatterns = [
    path("test-runs", api.run_collection, name="test_runs"),
    path("test-runs/import", api.run_import, name="test_run_import"),
    path("test-runs/<uuid:run_id>", api.run_item, name="test_run"),
    path("test-runs/<uuid:run_id>/events", api.run_events, name="test_run_events"),
    path("test-runs/<uuid:run_id>/advance", api.run_advance, name="test_run_advance"),
    path("test-runs/<uuid:run_id>/continue", api.run_continue, name="test_run_continue"),
    path("test-runs/<uuid:run_id>/cancel", api.run_cancel, name="test_run_cancel"),
    path("test-runs/<uuid:run_id>/rerun", api.run_rerun, name="test_run_rerun"),
    path("test-runs/<uuid:run_id>/export", api.run_export_view, name="test_run_export"),
    path("test-cases", testcase_api.case_collection, name="test_cases"),
    path("test-cases/<str:case_id>", testcase_api.case_item, name="test_case"),
    path(
        "workflows/<str:slug>/test-cases/export",
        testcase_api.case_file_export,
        name="test_case_file_export",
    ),
    path(
        "workflows/<str:slug>/test-cases/import",
        testcase_api.case_file_import,
        name="test_case_file_import",
    ),
    path("suites", suite_api.suite_collection, name="suites"),
    path("suites/<str:suite_id>", suite_api.suite_item, name="suite"),
    path("suites/<str:suite_id>/junit", suite_api.suite_junit, name="suite_junit"),
]
