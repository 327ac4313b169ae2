"""`/api/suites`: run every test case of a workflow or a project, follow the suite, and
fetch its JUnit XML (DESIGN §8)."""

from __future__ import annotations

import uuid

from django.http import Http404, HttpResponse

from meshhook.api.base import (
    ApiError,
    ApiRequest,
    api_endpoint,
    body_object,
    json_response,
    reject_unknown_keys,
    require_editor,
)
from meshhook.models import Project, Workflow
from meshhook.services.projects import (
    AnyUser,
    project_for_user_or_404,
    projects_for,
    workflow_for_user_or_404,
)
from testruns.api import _source
from testruns.junit import junit_xml
from testruns.suites import start_suite
from testruns.testcase_models import TestSuiteRun
from testruns.testcase_serializers import suite_api_path, suite_json, suite_started

START_FIELDS = ("workflow", "project", "environment", "source")


def viewable_suite_or_404(user: AnyUser, suite_id: object) -> TestSuiteRun:
    try:
        key = uuid.UUID(str(suite_id))
    except ValueError:
        raise ApiError(404, "No such suite.") from None
    suite = (
        TestSuiteRun.objects.filter(project__in=projects_for(user), pk=key)
        .select_related("project", "workflow", "triggered_by")
        .first()
    )
    if suite is None:
        raise ApiError(404, f"No suite {key} in your projects.")
    return suite


def _scope(request: ApiRequest, body: dict[str, object]) -> tuple[Project, Workflow | None]:
    project_slug = body.get("project", request.GET.get("project"))
    if project_slug is not None and not isinstance(project_slug, str):
        raise ApiError(400, "project must be a project slug.", path="project")
    slug = body.get("workflow")
    if slug is not None:
        if not isinstance(slug, str) or not slug:
            raise ApiError(400, "workflow must be a workflow slug.", path="workflow")
        try:
            workflow = workflow_for_user_or_404(request.user, slug, project_slug)
        except Http404:
            message = f"No workflow '{slug}' in your projects."
            raise ApiError(404, message, path="workflow") from None
        return workflow.project, workflow
    try:
        return project_for_user_or_404(request.user, project_slug), None
    except Http404:
        raise ApiError(404, f"No project '{project_slug}'.", path="project") from None


@api_endpoint(methods=["POST"])
def suite_collection(request: ApiRequest) -> HttpResponse:
    body = body_object(request, required=False)
    reject_unknown_keys(body, START_FIELDS)
    project, workflow = _scope(request, body)
    require_editor(request, project)
    environment = body.get("environment") or ""
    if not isinstance(environment, str):
        raise ApiError(400, "environment must be an environment's name.", path="environment")
    suite = start_suite(
        project,
        user=request.user,
        source=_source(request, body),
        workflow=workflow,
        environment=environment,
    )
    return json_response(
        suite_started(suite, request), status=201, headers={"Location": suite_api_path(suite)}
    )


@api_endpoint(methods=["GET"])
def suite_item(request: ApiRequest, suite_id: str) -> HttpResponse:
    return json_response(suite_json(viewable_suite_or_404(request.user, suite_id), request))


@api_endpoint(methods=["GET"])
def suite_junit(request: ApiRequest, suite_id: str) -> HttpResponse:
    suite = viewable_suite_or_404(request.user, suite_id)
    response = HttpResponse(junit_xml([suite]), content_type="application/xml; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="suite-{suite.id}.junit.xml"'
    return response
