"""`/api/workflows`: create, update (a new version) and read workflow definitions.

POST creates and refuses an existing slug (409), PUT updates and refuses a missing one (404):
a CI script that means to update never creates a stray workflow through a typo, and one
that means to create never overwrites someone else's work.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import HttpResponse

from meshhook import extensions
from meshhook.api.base import (
    ApiError,
    ApiRequest,
    api_endpoint,
    body_object,
    json_response,
    request_project,
    require_editor,
)
from meshhook.models import Project, Workflow
from meshhook.services.workflows import SavedDefinition, WorkflowExists, save_definition
from meshhook.timefmt import iso


@api_endpoint(methods=["GET", "POST"])
def workflow_collection(request: ApiRequest) -> HttpResponse:
    project = request_project(request)
    if request.method == "POST":
        return _create(request, project)
    workflows = project.workflows.order_by("slug")
    return json_response({"results": [_workflow_json(w, request) for w in workflows]})


def _create(request: ApiRequest, project: Project) -> HttpResponse:
    require_editor(request, project)
    definition = body_object(request)
    try:
        saved = save_definition(project, definition, user=request.user, new_only=True)
    except WorkflowExists as exists:
        raise ApiError(
            409,
            f"Workflow '{exists.slug}' already exists in project '{project.slug}'; "
            f"update it with PUT /api/workflows/{exists.slug}.",
            path="slug",
        ) from None
    return json_response(
        _saved_json(saved, request), status=201, headers={"Location": _api_url(saved.workflow)}
    )


@api_endpoint(methods=["GET", "PUT"])
def workflow_item(request: ApiRequest, slug: str) -> HttpResponse:
    project = request_project(request)
    if request.method == "PUT":
        require_editor(request, project)
    workflow = Workflow.objects.filter(project=project, slug=slug).select_related("project").first()
    if workflow is None:
        raise ApiError(
            404,
            f"No workflow '{slug}' in project '{project.slug}'"
            + ("; create it with POST /api/workflows." if request.method == "PUT" else "."),
            path="slug",
        )
    if request.method == "PUT":
        saved = save_definition(
            project, body_object(request), user=request.user, expected_slug=slug
        )
        return json_response(_saved_json(saved, request))
    return json_response(_detail_json(workflow, request))


def _api_url(workflow: Workflow) -> str:
    return f"/api/workflows/{workflow.slug}?{urlencode({'project': workflow.project.slug})}"


def _workflow_json(workflow: Workflow, request: ApiRequest) -> dict[str, Any]:
    return {
        "slug": workflow.slug,
        "name": workflow.name,
        "description": workflow.description,
        "project": workflow.project.slug,
        "version": workflow.latest_version,
        "created_at": iso(workflow.created_at),
        "updated_at": iso(workflow.updated_at),
        "api_url": request.build_absolute_uri(_api_url(workflow)),
    }


def _saved_json(saved: SavedDefinition, request: ApiRequest) -> dict[str, Any]:
    return {
        **_workflow_json(saved.workflow, request),
        "version": saved.version.number,
        "created": saved.created,
        # False when the definition was identical to the latest version: nothing new stored.
        "changed": saved.changed,
    }


def _detail_json(workflow: Workflow, request: ApiRequest) -> dict[str, Any]:
    versions = list(
        workflow.versions.select_related("created_by").order_by("-number")
    )  # small rows; a workflow has tens of versions, not thousands
    latest = versions[0] if versions else None
    return {
        **_workflow_json(workflow, request),
        "definition": latest.definition if latest else None,
        "versions": [
            {
                "number": version.number,
                "created_at": iso(version.created_at),
                "created_by": version.created_by.get_username() if version.created_by else None,
            }
            for version in versions
        ],
        "stats": extensions.workflow_runs.stats_json(workflow, request),
    }
