"""Console pages of test runs: the Test-run form, the live run page, history, controls."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from meshhook import strictjson
from meshhook.demo import sample_for
from meshhook.engine import MASK, Problem, parse_definition
from meshhook.htmx import AuthenticatedHtmxRequest
from meshhook.models import Environment, Workflow, WorkflowVersion
from meshhook.problems import ProblemError
from meshhook.services.projects import (
    can_edit,
    projects_for,
    workflow_for_user_or_404,
    workflows_for,
)
from meshhook.strictjson import pretty
from testruns.compare import compare_runs
from testruns.imports import refuse_if_imported
from testruns.models import TestRun
from testruns.parameters import (
    DEFAULT_PARAMETERS,
    PAYLOAD_LIMIT,
    ParameterError,
    keep_stored_credentials,
    parse_headers_text,
    validate_parameters,
)
from testruns.presenters import run_context
from testruns.queries import (
    editable_run_or_404,
    filter_runs,
    history_page,
    runs_for,
    viewable_run_or_404,
)
from testruns.retention import set_kept
from testruns.services import (
    cancel_run,
    override_next_input,
    rerun,
    resume_run,
    start_test_run,
    test_single_step,
    toggle_breakpoint,
)


def _prefill(workflow: Workflow, source: TestRun | None) -> tuple[dict[str, Any], TestRun | None]:
    """Parameters to start from: a run being edited, else the last run, else a sample; and
    the run they come from. Its credentials are shown as the mask: posted unchanged, the
    mask keeps the stored value (see _keep_stored_credentials)."""
    previous = source or workflow.test_runs.order_by("-created_at").first()
    if previous is not None:
        return previous.shown_parameters, previous
    sample = sample_for(workflow.slug)
    return {**DEFAULT_PARAMETERS, "payload": sample.payload, "headers": sample.headers}, None


def _keep_stored_credentials(
    request: AuthenticatedHtmxRequest, workflow: Workflow, raw: dict[str, Any]
) -> dict[str, Any]:
    """The posted parameters with each credential left as the mask replaced by the value
    stored in the run the form was filled from. Only a run of this project, which the user
    may run (and so re-run) anyway; without one the mask is refused as a value."""
    try:
        source_id = uuid.UUID(request.POST.get("from_run", ""))
    except ValueError:
        return raw
    source = TestRun.objects.filter(pk=source_id, project_id=workflow.project_id).first()
    if source is None:
        return raw
    headers = keep_stored_credentials(raw["headers"], source.headers_for_engine())
    return {**raw, "headers": headers}


def chosen_version(workflow: Workflow, number: int | None) -> WorkflowVersion:
    """The version asked for, or the latest one."""
    if number is not None:
        version = workflow.versions.filter(number=number).first()
        if version is not None:
            return version
    return workflow.current_version()


def _parse_form(request: AuthenticatedHtmxRequest) -> tuple[dict[str, Any], list[Problem]]:
    problems: list[Problem] = []
    raw: dict[str, Any] = {
        "environment": request.POST.get("environment", ""),
        "mode": request.POST.get("mode", "auto"),
        "honor_delays": request.POST.get("honor_delays") == "on",
        "breakpoints": request.POST.getlist("breakpoints"),
    }
    payload_text = request.POST.get("payload", "").strip() or "{}"
    try:
        raw["payload"] = strictjson.loads(payload_text)
    except strictjson.JsonInputError as error:
        raw["payload_text"] = request.POST.get("payload", "")  # shown again as typed
        problems.append(Problem("payload", str(error)))
    headers = {
        name.strip(): value
        for name, value in zip(
            request.POST.getlist("header_name"), request.POST.getlist("header_value"), strict=False
        )
        if name.strip()
    }
    headers.update(parse_headers_text(request.POST.get("raw_headers", "")))
    raw["headers"] = headers
    mocks_text = request.POST.get("mocks", "").strip()
    if mocks_text:
        try:
            raw["mocks"] = strictjson.loads(mocks_text)
        except strictjson.JsonInputError as error:
            raw["mocks_text"] = request.POST.get("mocks", "")
            problems.append(Problem("mocks", str(error)))
    return raw, problems


def _form_context(
    workflow: Workflow,
    values: dict[str, Any],
    problems: list[Problem],
    version_number: int | None,
    from_run: str = "",
) -> dict[str, Any]:
    version = chosen_version(workflow, version_number)
    definition = version.definition
    return {
        "workflow": workflow,
        "version": version,
        "values": values,
        "from_run": from_run,
        "payload_json": values.get("payload_text") or pretty(values.get("payload", {})),
        "mocks_json": values.get("mocks_text")
        or (pretty(values["mocks"]) if values.get("mocks") else ""),
        "header_items": list((values.get("headers") or {}).items()),
        "keeps_credentials": bool(from_run) and MASK in (values.get("headers") or {}).values(),
        "environments": workflow.project.environments.filter(kind="test"),
        "nodes": [n for n in definition.get("nodes", []) if isinstance(n, dict)],
        "problems": {p.path.split(".")[0].split("[")[0]: p.message for p in reversed(problems)},
        "problem_list": problems,
        "payload_limit_label": _bytes_label(min(PAYLOAD_LIMIT, settings.API_MAX_BODY_BYTES)),
        # What the browser may send at all (413 before the server reads more); above the
        # payload limit, so a payload over that limit still gets its own error.
        "body_limit": settings.API_MAX_BODY_BYTES,
    }


def _bytes_label(size: int) -> str:
    return f"{size / 1_000_000:g} MB ({size:,} bytes)" if size >= 100_000 else f"{size:,} bytes"


@login_required
@require_http_methods(["GET", "POST"])
def testrun_form(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    workflow = workflow_for_user_or_404(request.user, slug, request.GET.get("project"))
    version_param = request.GET.get("version") or request.POST.get("version") or ""
    version_number = int(version_param) if version_param.isdigit() else None
    can_run = can_edit(request.user, workflow.project)
    if request.method == "GET":
        source_id = request.GET.get("from_run")
        source = viewable_run_or_404(request.user, source_id) if source_id else None
        values, prefilled_from = _prefill(workflow, source)
        from_run = str(prefilled_from.id) if prefilled_from is not None else ""
        context = _form_context(workflow, values, [], version_number, from_run)
        context["can_run"] = can_run
        template = "testruns/testrun_form.html"
        return render(request, template + "#form" if request.htmx else template, context)

    if not can_run:
        raise PermissionDenied("Viewers cannot start test runs.")
    raw, problems = _parse_form(request)
    version = chosen_version(workflow, version_number)
    status = 400
    if not problems:
        try:
            params = validate_parameters(
                workflow.project,
                parse_definition(version.definition),
                _keep_stored_credentials(request, workflow, raw),
            )
            run = start_test_run(workflow, params, user=request.user, version=version)
        except ProblemError as error:  # bad parameters (400), or no queue to run on (503)
            problems, status = error.problems, error.status
        else:
            url = reverse("testrun_detail", args=[run.id])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    # Shown again as posted, the payload as typed: a kept credential stays the mask.
    shown = {**raw, "payload_text": request.POST.get("payload", "")}
    context = _form_context(
        workflow, shown, problems, version.number, request.POST.get("from_run", "")
    )
    context["can_run"] = can_run
    template = "testruns/testrun_form.html"
    return render(request, template + "#form" if request.htmx else template, context, status=status)


@login_required
@require_GET
def testrun_start(request: AuthenticatedHtmxRequest) -> HttpResponse:
    """The console's "Test run" entry: choose the workflow first."""
    workflows = workflows_for(request.user).select_related("project").order_by("name")
    return render(
        request, "testruns/testrun_start.html", {"workflows": workflows, "nav": "testruns"}
    )


@login_required
@require_GET
def testrun_detail(request: AuthenticatedHtmxRequest, run_id: str) -> HttpResponse:
    run = viewable_run_or_404(request.user, run_id)
    context = run_context(run)
    context["can_control"] = can_edit(request.user, run.project)
    context["nav"] = "testruns"
    context["last_seq"] = context["events"][-1].seq if context["events"] else 0
    return render(request, "testruns/run_detail.html", context)


@login_required
@require_POST
def testrun_action(request: AuthenticatedHtmxRequest, run_id: str, action: str) -> HttpResponse:
    run = editable_run_or_404(request.user, run_id)
    if action in ("keep", "unkeep"):
        # Pinning is allowed on any run, imported ones included; the button shows the state.
        set_kept(run, action == "keep")
        if request.htmx:
            context = {"run": run, "can_control": True}
            return render(request, "testruns/run_detail.html#controls", context)
        return redirect(reverse("testrun_detail", args=[run.id]))
    try:
        refuse_if_imported(run)
        if action == "cancel":
            cancel_run(run)
        elif action == "advance":
            resume_run(run, steps=1)
        elif action == "continue":
            resume_run(run, steps=None, until=request.POST.get("until", ""))
        elif action in ("rerun", "rerun-from"):
            new_run = rerun(
                run,
                user=request.user,
                source=TestRun.Source.CONSOLE,
                from_step=request.POST.get("from_step", "") if action == "rerun-from" else "",
                use_current_version=request.POST.get("version") == "current",
                overrides=_pin_override(run, request.POST.get("pin_step", "")),
            )
            url = reverse("testrun_detail", args=[new_run.id])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
        elif action == "test-step":
            single = test_single_step(
                run,
                request.POST.get("node", ""),
                strictjson.loads(request.POST.get("input", "") or "null"),
                user=request.user,
            )
            url = reverse("testrun_detail", args=[single.id])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
        elif action == "toggle-breakpoint":
            toggle_breakpoint(run, request.POST.get("node", ""))
        elif action == "override-input":
            # The node the user edited, not whatever the run is paused at by now.
            node_id = request.POST.get("node", "") or run.paused_before
            override_next_input(run, node_id, strictjson.loads(request.POST.get("input", "")))
        else:
            raise Http404("No such action.")
    except ProblemError as error:  # a run in the wrong state (409), bad input (400), no queue (503)
        return HttpResponse(str(error), status=error.status)
    except strictjson.JsonInputError as error:
        return HttpResponse(str(error), status=400)
    if request.htmx:
        # The page stays; its socket brings the change (no reload, no flicker).
        return HttpResponse(status=204)
    return redirect(reverse("testrun_detail", args=[run.id]))


def _pin_override(run: TestRun, pin_step: str) -> dict[str, Any] | None:
    """ "Pin this output": the re-run mocks the step with the output it recorded."""
    if not pin_step:
        return None
    step = run.steps.filter(node_id=pin_step, iteration__isnull=True).first()
    if step is None or step.output is None:
        raise ParameterError([Problem("pin_step", f"Step '{pin_step}' has no output to pin.")])
    return {"mocks": {**run.mocks, pin_step: step.output}}


HISTORY_FILTERS = ("workflow", "status", "environment", "triggered_by", "since", "until")


@login_required
@require_GET
def testrun_list(request: AuthenticatedHtmxRequest) -> HttpResponse:
    filters = {key: request.GET.get(key, "").strip() for key in HISTORY_FILTERS}
    visible = runs_for(request.user).select_related(
        "workflow__project", "workflow_version", "triggered_by"
    )
    filter_problems: list[Problem] = []
    try:
        runs = filter_runs(visible, filters)
    except ParameterError as error:
        # Say what was wrong and list without the bad filters rather than fail the page.
        filter_problems = error.problems
        filters.update({problem.path: "" for problem in error.problems})
        runs = filter_runs(visible, filters)
    page, next_cursor, newer_cursor = history_page(
        runs, request.GET.get("cursor"), request.GET.get("before"), 25
    )
    workflows = list(workflows_for(request.user).order_by("name"))
    context = {
        "runs": page,
        "filter_problems": filter_problems,
        "next_cursor": next_cursor,
        "newer_cursor": newer_cursor,
        "filters": filters,
        "query_without_cursor": urlencode({k: v for k, v in filters.items() if v}),
        "workflows": workflows,
        "workflow_slugs": {workflow.slug for workflow in workflows},
        "statuses": [s for s, _ in TestRun._meta.get_field("status").choices or []],
        "sources": TestRun.Source.values,
        # From the environments table: a DISTINCT over the runs scans all of history.
        "environments": sorted(
            set(
                Environment.objects.filter(project__in=projects_for(request.user))
                .values_list("name", flat=True)
                .distinct()[:50]
            )
        ),
        "nav": "testruns",
        "has_filters": any(filters.values()),
    }
    template = "testruns/run_list.html"
    if request.htmx and not request.htmx.boosted:
        return render(request, template + "#results", context)
    return render(request, template, context)


@login_required
@require_GET
def testrun_compare(request: AuthenticatedHtmxRequest) -> HttpResponse:
    """`?run=<id>&run=<id>` (older first on screen); one run alone is compared with the run it
    was re-run from."""
    chosen = [
        viewable_run_or_404(request.user, run_id) for run_id in request.GET.getlist("run")[:2]
    ]
    if len(chosen) == 1 and chosen[0].source_run_id:
        chosen.insert(0, viewable_run_or_404(request.user, chosen[0].source_run_id))
    if len(chosen) != 2:
        return render(
            request, "testruns/compare.html", {"need_two": True, "nav": "testruns"}, status=400
        )
    left, right = sorted(chosen, key=lambda run: run.created_at)
    context = compare_runs(left, right)
    context["nav"] = "testruns"
    return render(request, "testruns/compare.html", context)
