"""Workflow pages: list, detail (graph, definition, versions, recent runs), editor, export."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Case, Value, When
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from meshhook import extensions
from meshhook.engine import DefinitionError, Problem
from meshhook.graphlayout import layout
from meshhook.htmx import AuthenticatedHtmxRequest
from meshhook.models import Workflow, WorkflowVersion
from meshhook.services.projects import (
    can_edit,
    project_for_user_or_404,
    projects_for,
    workflow_for_user_or_404,
    workflows_for,
)
from meshhook.services.workflows import parse_definition_text, save_definition
from meshhook.strictjson import pretty

NEW_DEFINITION = {
    "schema_version": 1,
    "name": "My workflow",
    "slug": "my-workflow",
    "description": "Receives a webhook and echoes it to the sandbox.",
    "nodes": [
        {"id": "hook", "type": "webhook_trigger", "label": "Incoming webhook"},
        {
            "id": "shape",
            "type": "transform",
            "label": "Shape payload",
            "config": {"expression": "body"},
        },
        {
            "id": "send",
            "type": "http_call",
            "label": "Send to sandbox",
            "config": {"method": "POST", "url": "{{env.SANDBOX_URL}}/echo"},
        },
    ],
    "edges": [{"source": "hook", "target": "shape"}, {"source": "shape", "target": "send"}],
}


def requested_version(request: AuthenticatedHtmxRequest, workflow: Workflow) -> WorkflowVersion:
    """`?version=N` (404 if there is no such version), else the latest."""
    number = request.GET.get("version", "")
    if number.isdigit():
        return get_object_or_404(workflow.versions, number=int(number))
    return workflow.current_version()


@login_required
@require_GET
def workflow_list(request: AuthenticatedHtmxRequest) -> HttpResponse:
    workflows = list(
        workflows_for(request.user)
        .select_related("project")
        .order_by(
            Case(When(project__personal_for=request.user.pk, then=Value(0)), default=Value(1)),
            "project__name",
            "name",
        )
    )
    # Every listed workflow's run statistics in one query (see meshhook.extensions).
    stats = extensions.workflow_runs.list_stats(workflows)
    for workflow in workflows:
        setattr(workflow, "stats", stats.get(workflow.pk))  # noqa: B010 (not a model field)
    return render(
        request,
        "meshhook/workflow_list.html",
        {
            "workflows": workflows,
            "nav": "workflows",
            "multi_project": projects_for(request.user).count() > 1,
        },
    )


@login_required
@require_GET
def workflow_detail(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    workflow = workflow_for_user_or_404(request.user, slug, request.GET.get("project"))
    version = requested_version(request, workflow)
    runs = extensions.workflow_runs.recent_runs(workflow, 10)
    return render(
        request,
        "meshhook/workflow_detail.html",
        {
            "workflow": workflow,
            "version": version,
            "definition_json": pretty(version.definition),
            "graph": layout(version.definition),
            "versions": workflow.versions.all()[:50],
            "runs": runs,
            "stats": extensions.workflow_runs.page_stats(workflow),
            # What features add to the page (the test cases card), without this app
            # importing them.
            "panels": extensions.workflow_runs.panels(workflow, request),
            "can_edit": can_edit(request.user, workflow.project),
            "nav": "workflows",
        },
    )


@login_required
@require_GET
def workflow_export(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    workflow = workflow_for_user_or_404(request.user, slug, request.GET.get("project"))
    version = requested_version(request, workflow)
    response = JsonResponse(version.definition, json_dumps_params={"indent": 2})
    filename = f"{workflow.slug}-v{version.number}.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def workflow_editor(request: AuthenticatedHtmxRequest, slug: str | None = None) -> HttpResponse:
    """Create (no slug), edit, or import a definition; invalid input saves nothing."""
    workflow: Workflow | None = None
    if slug is not None:
        workflow = workflow_for_user_or_404(request.user, slug, request.GET.get("project"))
        project = workflow.project
    else:
        project = project_for_user_or_404(request.user, request.GET.get("project"))
    if not can_edit(request.user, project):
        return render(request, "meshhook/forbidden.html", {"project": project}, status=403)

    problems: list[Problem] = []
    if request.method == "POST":
        upload = request.FILES.get("file")
        text = (
            upload.read().decode("utf-8", "replace")
            if upload
            else request.POST.get("definition", "")
        )
        try:
            raw = parse_definition_text(text)
            saved = save_definition(
                project,
                raw,
                user=request.user,
                expected_slug=workflow.slug if workflow else None,
                new_only=workflow is None,
            )
        except DefinitionError as error:
            problems = error.problems
        else:
            url = saved.workflow.get_absolute_url()
            if request.htmx:
                return HttpResponseClientRedirect(url)
            return redirect(url)
        definition_text = text
    elif workflow is not None:
        definition_text = pretty(workflow.current_version().definition)
    else:
        definition_text = pretty(NEW_DEFINITION)

    context = {
        "workflow": workflow,
        "project": project,
        "definition_text": definition_text,
        "problems": problems,
        "nav": "workflows",
    }
    status = 400 if problems else 200
    if request.htmx and request.method == "POST":
        return render(request, "meshhook/workflow_editor.html#problems", context, status=status)
    return render(request, "meshhook/workflow_editor.html", context, status=status)
