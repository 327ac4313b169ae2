"""Routes of the JSON API, included under `api/` by meshhook/urls.py.

`<str:...>` rather than `<slug:...>` so that a malformed name reaches the endpoint and gets
a JSON answer with a path; the catch-all keeps unknown URLs under /api/ JSON too.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import path, re_path

from meshhook.api import environments, openapi, workflows
from meshhook.api.base import ApiError, ApiRequest, api_endpoint
from testruns import api as testruns

app_name = "api"


@api_endpoint(methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"], auth=False, body=False)
def not_found(request: ApiRequest, rest: str = "") -> HttpResponse:
    raise ApiError(404, f"No API endpoint at {request.path}; see /api/openapi.json.")


urlpatterns = [
    path("openapi.json", openapi.openapi_document, name="openapi"),
    path("workflows", workflows.workflow_collection, name="workflows"),
    path("workflows/<str:slug>", workflows.workflow_item, name="workflow"),
    path("environments", environments.environment_collection, name="environments"),
    path("environments/<str:name>", environments.environment_item, name="environment"),
    path("test-runs", testruns.run_collection, name="test_runs"),
    path("test-runs/<uuid:run_id>", testruns.run_item, name="test_run"),
    path("test-runs/<uuid:run_id>/events", testruns.run_events, name="test_run_events"),
    path("test-runs/<uuid:run_id>/advance", testruns.run_advance, name="test_run_advance"),
    path("test-runs/<uuid:run_id>/continue", testruns.run_continue, name="test_run_continue"),
    path("test-runs/<uuid:run_id>/cancel", testruns.run_cancel, name="test_run_cancel"),
    path("test-runs/<uuid:run_id>/rerun", testruns.run_rerun, name="test_run_rerun"),
    path("test-runs/<uuid:run_id>/export", testruns.run_export_view, name="test_run_export"),
    re_path(r"^(?P<rest>.*)$", not_found, name="not_found"),
]
