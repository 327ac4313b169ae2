"""Console routes of test cases; mounted beside testruns/urls.py (see README)."""

from __future__ import annotations

from django.urls import path

from testruns import testcase_views

urlpatterns = [
    path("test-cases/<uuid:case_id>/run/", testcase_views.testcase_run, name="testcase_run"),
    path(
        "test-cases/<uuid:case_id>/delete/",
        testcase_views.testcase_delete,
        name="testcase_delete",
    ),
    path(
        "test-cases/from-run/<uuid:run_id>/",
        testcase_views.testcase_from_run,
        name="testcase_from_run",
    ),
    path(
        "test-cases/checks/<uuid:run_id>/",
        testcase_views.run_assertions,
        name="testrun_assertions",
    ),
    path(
        "test-cases/assert/<uuid:run_id>/",
        testcase_views.testcase_assert_value,
        name="testcase_assert_value",
    ),
    path(
        "test-cases/baseline/<uuid:run_id>/",
        testcase_views.testcase_accept_baseline,
        name="testcase_accept_baseline",
    ),
]
