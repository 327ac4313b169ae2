"""`/api/test-cases`: save, list, read, change and delete test cases (DESIGN §8).

A test case belongs to a workflow, so to its project: members read it, owners and
editors change it (a viewer gets 403), anyone else gets 404. `PUT` changes the fields it
is given and keeps the others, as `PUT /api/environments/<name>` does; it accepts the
read-only fields of the GET answer too (ignored), so GET → edit → PUT works.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import Http404, HttpResponse

from meshhook.api.base import (
    ApiError,
    ApiRequest,
    api_endpoint,
    body_object,
    json_response,
    reject_unknown_keys,
    request_project,
    require_editor,
)
from meshhook.models import Workflow
from meshhook.services.projects import AnyUser, projects_for, workflow_for_user_or_404
from testruns.case_files import export_text, import_cases
from testruns.models import PARAMETER_NAMES, TestRun
from testruns.testcase_models import TestCase
from testruns.testcase_serializers import CASE_RELATED, case_api_path, case_json
from testruns.testcases import READ_ONLY_FIELDS, WRITABLE_FIELDS, save_test_case, start_case_run

CREATE_FIELDS = (*WRITABLE_FIELDS, "project")
UPDATE_FIELDS = (*WRITABLE_FIELDS, *READ_ONLY_FIELDS)


def cases_for(user: AnyUser) -> QuerySet[TestCase]:
    return TestCase.objects.filter(workflow__project__in=projects_for(user))


def viewable_case_or_404(user: AnyUser, case_id: object) -> TestCase:
    try:
        key = uuid.UUID(str(case_id))
    except ValueError:
        raise ApiError(404, "No such test case.", path="test_case") from None
    case = cases_for(user).select_related(*CASE_RELATED).filter(pk=key).first()
    if case is None:
        raise ApiError(404, f"No test case {key} in your projects.", path="test_case")
    return case


def _workflow(request: ApiRequest, body: dict[str, Any]) -> Workflow:
    slug = body.get("workflow")
    if not isinstance(slug, str) or not slug:
        raise ApiError(400, "Name the workflow the test case tests by its slug.", path="workflow")
    project = body.get("project", request.GET.get("project"))
    if project is not None and not isinstance(project, str):
        raise ApiError(400, "project must be a project slug.", path="project")
    try:
        return workflow_for_user_or_404(request.user, slug, project)
    except Http404:
        raise ApiError(404, f"No workflow '{slug}' in your projects.", path="workflow") from None


@api_endpoint(methods=["GET", "POST"])
def case_collection(request: ApiRequest) -> HttpResponse:
    if request.method == "POST":
        body = body_object(request)
        reject_unknown_keys(body, CREATE_FIELDS)
        workflow = _workflow(request, body)
        require_editor(request, workflow.project)
        case = save_test_case(workflow, body, user=request.user)
        case = cases_for(request.user).select_related(*CASE_RELATED).get(pk=case.pk)
        return json_response(
            case_json(case, request),
            status=201,
            headers={"Location": case_api_path(case)},
        )
    cases = cases_for(request.user).select_related(*CASE_RELATED)
    if request.GET.get("project"):
        cases = cases.filter(workflow__project=request_project(request))
    if request.GET.get("workflow"):
        cases = cases.filter(workflow__slug=request.GET["workflow"])
    cases = cases.order_by("workflow__project__slug", "workflow__slug", "name")
    return json_response({"results": [case_json(case, request) for case in cases]})


@api_endpoint(methods=["GET", "PUT", "DELETE"])
def case_item(request: ApiRequest, case_id: str) -> HttpResponse:
    case = viewable_case_or_404(request.user, case_id)
    if request.method == "GET":
        return json_response(case_json(case, request))
    require_editor(request, case.workflow.project)
    if request.method == "DELETE":
        case.delete()
        return HttpResponse(status=204)
    body = body_object(request)
    reject_unknown_keys(body, UPDATE_FIELDS)
    if "id" in body and str(body["id"]) != str(case.id):
        raise ApiError(400, "The id in the body is not this test case's.", path="id")
    workflow = case.workflow
    if "workflow" in body and body["workflow"] != workflow.slug:
        # Moving a case to another workflow of the same project keeps its history with it.
        target = {"workflow": body["workflow"], "project": workflow.project.slug}
        workflow = _workflow(request, target)
    case.workflow = workflow
    save_test_case(workflow, body, user=request.user, existing=case)
    case = cases_for(request.user).select_related(*CASE_RELATED).get(pk=case.pk)
    return json_response(case_json(case, request))


def start_case_from_body(request: ApiRequest, body: dict[str, Any], source: str) -> TestRun:
    """`POST /api/test-runs` with `test_case`: the case's run, the body's run parameters
    overriding the case's. `workflow`, if given, must be the case's."""
    try:
        case_id = uuid.UUID(str(body["test_case"]))
    except ValueError:
        raise ApiError(400, "test_case must be a test case's id.", path="test_case") from None
    case = viewable_case_or_404(request.user, case_id)
    workflow = case.workflow
    slug = body.get("workflow")
    if slug is not None and slug != workflow.slug:
        raise ApiError(
            400, f"Test case {case.id} tests workflow '{workflow.slug}', not '{slug}'.",
            path="workflow",
        )  # fmt: skip
    require_editor(request, workflow.project)
    overrides = {key: body[key] for key in PARAMETER_NAMES if key in body}
    return start_case_run(case, user=request.user, source=source, overrides=overrides)


@api_endpoint(methods=["GET"])
def case_file_export(request: ApiRequest, slug: str) -> HttpResponse:
    """The workflow's test cases as one file to keep in git (testruns.case_files)."""
    workflow = _workflow(request, {"workflow": slug})
    credentials = request.GET.get("credentials", "masked")
    if credentials not in ("masked", "encrypted"):
        raise ApiError(400, "credentials must be masked or encrypted.", path="credentials")
    sealed = credentials == "encrypted"
    text = export_text(workflow, credentials="encrypted" if sealed else "masked")
    response = HttpResponse(text, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{slug}.test-cases.json"'
    return response


@api_endpoint(methods=["POST"])
def case_file_import(request: ApiRequest, slug: str) -> HttpResponse:
    """Create or update the workflow's test cases from such a file; all or nothing."""
    workflow = _workflow(request, {"workflow": slug})
    require_editor(request, workflow.project)
    dry_run = request.GET.get("dry_run", "").lower() in ("1", "true", "yes")
    report = import_cases(workflow, request.json, user=request.user, dry_run=dry_run)
    return json_response(report.as_json())
