"""Routes of the core app's JSON API; meshhook/urls.py mounts them under `api/` with the
features' routes and, last, the catch-all `not_found`, which keeps unknown URLs under
/api/ JSON too.

`<str:...>` rather than `<slug:...>` so that a malformed name reaches the endpoint and gets
a JSON answer with a path.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import path, re_path

from meshhook.api import environments, openapi, workflows
from meshhook.api.base import ApiError, ApiRequest, api_endpoint


@api_endpoint(methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"], auth=False, body=False)
def not_found(request: ApiRequest, rest: str = "") -> HttpResponse:
    raise ApiError(404, f"No API endpoint at {request.path}; see /api/openapi.json.")


urlpatterns = [
    path("openapi.json", openapi.openapi_document, name="openapi"),
    path("workflows", workflows.workflow_collection, name="workflows"),
    path("workflows/<str:slug>", workflows.workflow_item, name="workflow"),
    path("environments", environments.environment_collection, name="environments"),
    path("environments/<str:name>", environments.environment_item, name="environment"),
]

catch_all = re_path(r"^(?P<rest>.*)$", not_found, name="not_found")
