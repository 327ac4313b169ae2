"""`/api/test-runs`: start, watch, control, re-run and export test runs (DESIGN §7).

The rules live in `testruns.services` and `testruns.parameters`; this module only turns
requests into service calls and service results into the JSON of `testruns.serializers`.
A run is visible to the members of its project only; anyone else gets 404.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import Http404, HttpResponse

from meshhook.api.base import (
    ApiError,
    ApiRequest,
    api_endpoint,
    body_object,
    json_response,
    query_int,
    reject_unknown_keys,
    request_project,
    require_editor,
)
from meshhook.services.projects import workflow_for_user_or_404
from meshhook.services.workflows import engine_workflow
from meshhook.timefmt import iso
from testruns import services
from testruns.imports import import_run, refuse_if_imported
from testruns.models import PARAMETER_NAMES, TestRun
from testruns.parameters import validate_parameters
from testruns.queries import (
    CursorError,
    editable_run_or_404,
    filter_runs,
    keyset_page,
    runs_for,
    viewable_run_or_404,
)
from testruns.retention import set_kept
from testruns.serializers import (
    SUMMARY_RELATED,
    event_json,
    run_detail,
    run_export,
    run_links,
    run_summary,
)
from testruns.testcase_api import start_case_from_body

START_FIELDS = ("workflow", "project", *PARAMETER_NAMES, "test_case", "source")
RERUN_FIELDS = ("from_step", "use_current_version", *PARAMETER_NAMES, "source")
API_SOURCES = (TestRun.Source.API, TestRun.Source.CI, TestRun.Source.CLI)
SOURCE_HEADER = "X-MeshHook-Source"
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
EVENTS_PAGE = 1000


def _source(request: ApiRequest, body: dict[str, Any]) -> str:
    """Who started the run: `source` in the body, else the X-MeshHook-Source header, else api."""
    if "source" in body:
        value, path = body["source"], "source"
    else:
        value, path = request.headers.get(SOURCE_HEADER, "api"), SOURCE_HEADER
    normalised = value.strip().lower() if isinstance(value, str) else value
    if normalised not in API_SOURCES:
        raise ApiError(400, f"The source must be one of {', '.join(API_SOURCES)}.", path=path)
    return str(normalised)


def _started(run: TestRun, request: ApiRequest) -> HttpResponse:
    data = {
        "id": str(run.id),
        "status": run.status,
        **run_links(run, request),
        "workflow": run.workflow.slug,
        "workflow_version": run.workflow_version.number,
        "api_url": request.build_absolute_uri(f"/api/test-runs/{run.id}"),
    }
    return json_response(data, status=201, headers={"Location": f"/api/test-runs/{run.id}"})


@api_endpoint(methods=["GET", "POST"])
def run_collection(request: ApiRequest) -> HttpResponse:
    if request.method == "POST":
        return _start(request)
    return _list(request)


def _start(request: ApiRequest) -> HttpResponse:
    body = body_object(request)
    reject_unknown_keys(body, START_FIELDS)
    if body.get("test_case") is not None:
        # A run of a saved test case (DESIGN §8); the other fields override the case's.
        run = start_case_from_body(request, body, _source(request, body))
        return _started(run, request)
    slug = body.get("workflow")
    if not isinstance(slug, str) or not slug:
        raise ApiError(400, "Name the workflow to run by its slug.", path="workflow")
    project_slug = body.get("project", request.GET.get("project"))
    if project_slug is not None and not isinstance(project_slug, str):
        raise ApiError(400, "project must be a project slug.", path="project")
    try:
        # Same order as the user's default project, so the first project wins a slug clash.
        workflow = workflow_for_user_or_404(request.user, slug, project_slug)
    except Http404:
        raise ApiError(404, f"No workflow '{slug}' in your projects.", path="workflow") from None
    require_editor(request, workflow.project)
    source = _source(request, body)
    version = workflow.current_version()
    params = validate_parameters(
        workflow.project,
        engine_workflow(version),  # parsed once per process, as the run will use it
        {key: body[key] for key in PARAMETER_NAMES if key in body},
    )
    run = services.start_test_run(
        workflow, params, user=request.user, source=source, version=version
    )
    return _started(run, request)


def _list(request: ApiRequest) -> HttpResponse:
    runs = runs_for(request.user).select_related(*SUMMARY_RELATED)
    query = request.GET
    if query.get("project"):
        # Unlike the other filters, naming a project you cannot see is a 404, as everywhere.
        runs = runs.filter(project=request_project(request))
    runs = filter_runs(runs, query)
    limit = query_int(request, "limit", default=DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
    try:
        page, next_cursor = keyset_page(runs, query.get("cursor"), limit)
    except CursorError as error:
        raise ApiError(400, str(error), path="cursor") from None
    return json_response(
        {
            "results": [run_summary(run, request) for run in page],
            "next_cursor": next_cursor,
        }
    )


@api_endpoint(methods=["GET", "PATCH"])
def run_item(request: ApiRequest, run_id: uuid.UUID) -> HttpResponse:
    if request.method == "PATCH":
        # Only `kept` ("Keep" on the run page: the retention never deletes the run) changes.
        run = editable_run_or_404(request.user, run_id)
        body = body_object(request)
        reject_unknown_keys(body, ("kept",))
        if not isinstance(body.get("kept"), bool):
            raise ApiError(400, "kept must be true or false.", path="kept")
        set_kept(run, body["kept"])
    return json_response(_item_json(viewable_run_or_404(request.user, run_id), request))


def _item_json(run: TestRun, request: ApiRequest) -> dict[str, Any]:
    return {
        **run_detail(run, request),
        "kept": run.kept,
        "imported_at": iso(run.imported_at),
        "imported_from": str(run.imported_from) if run.imported_from else None,
    }


@api_endpoint(methods=["POST"])
def run_import(request: ApiRequest) -> HttpResponse:
    """A run exported elsewhere (`GET .../export`), stored read-only to be viewed here."""
    if request.json is None:
        raise ApiError(400, "Send a test-run export as the JSON body.")
    project = request_project(request)
    require_editor(request, project)
    run = import_run(project, request.json, user=request.user)
    run = runs_for(request.user).select_related(*SUMMARY_RELATED).get(pk=run.pk)
    return json_response(
        _item_json(run, request), status=201, headers={"Location": f"/api/test-runs/{run.id}"}
    )


@api_endpoint(methods=["GET"])
def run_events(request: ApiRequest, run_id: uuid.UUID) -> HttpResponse:
    run = viewable_run_or_404(request.user, run_id)
    after = query_int(request, "after", default=0, minimum=0, maximum=2**31 - 1)
    limit = query_int(request, "limit", default=EVENTS_PAGE, minimum=1, maximum=EVENTS_PAGE)
    events = list(run.events.filter(seq__gt=after).order_by("seq")[: limit + 1])
    has_more = len(events) > limit
    events = events[:limit]
    return json_response(
        {
            "events": [event_json(event) for event in events],
            "next_after": events[-1].seq if events else after,
            "has_more": has_more,
            # Lets a poller stop once the run is finished and no events are left.
            "run_status": run.status,
        }
    )


def _controllable(request: ApiRequest, run_id: uuid.UUID) -> TestRun:
    run = editable_run_or_404(request.user, run_id)
    refuse_if_imported(run)
    return run


def _control_response(run: TestRun, request: ApiRequest) -> HttpResponse:
    run = runs_for(request.user).select_related(*SUMMARY_RELATED).get(pk=run.pk)
    return json_response(run_summary(run, request))


@api_endpoint(methods=["POST"])
def run_advance(request: ApiRequest, run_id: uuid.UUID) -> HttpResponse:
    run = _controllable(request, run_id)
    reject_unknown_keys(body_object(request, required=False), ())
    return _control_response(services.resume_run(run, steps=1), request)


@api_endpoint(methods=["POST"])
def run_continue(request: ApiRequest, run_id: uuid.UUID) -> HttpResponse:
    run = _controllable(request, run_id)
    body = body_object(request, required=False)
    reject_unknown_keys(body, ("until",))
    until = body.get("until") or ""
    if not isinstance(until, str):
        raise ApiError(400, "until must be a node id.", path="until")
    if until and not run.steps.filter(node_id=until, parent_node_id="").exists():
        raise ApiError(400, f"No top-level step '{until}' in this run.", path="until")
    return _control_response(services.resume_run(run, steps=None, until=until), request)


@api_endpoint(methods=["POST"])
def run_cancel(request: ApiRequest, run_id: uuid.UUID) -> HttpResponse:
    run = _controllable(request, run_id)
    reject_unknown_keys(body_object(request, required=False), ())
    who = request.user.get_username()
    run = services.cancel_run(run, reason=f"Cancelled by {who} through the API.")
    return _control_response(run, request)


@api_endpoint(methods=["POST"])
def run_rerun(request: ApiRequest, run_id: uuid.UUID) -> HttpResponse:
    run = _controllable(request, run_id)
    body = body_object(request, required=False)
    reject_unknown_keys(body, RERUN_FIELDS)
    from_step = body.get("from_step") or ""
    if not isinstance(from_step, str):
        raise ApiError(400, "from_step must be a node id.", path="from_step")
    use_current = body.get("use_current_version", False)
    if not isinstance(use_current, bool):
        raise ApiError(
            400, "use_current_version must be true or false.", path="use_current_version"
        )
    new_run = services.rerun(
        run,
        user=request.user,
        source=_source(request, body),
        from_step=from_step,
        overrides={key: body[key] for key in PARAMETER_NAMES if key in body},
        use_current_version=use_current,
    )
    return _started(new_run, request)


@api_endpoint(methods=["GET"])
def run_export_view(request: ApiRequest, run_id: uuid.UUID) -> HttpResponse:
    run = viewable_run_or_404(request.user, run_id)
    filename = f"test-run-{run.workflow.slug}-{run.id}.json"
    return json_response(
        run_export(run, request),
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
