"""Console pieces of test cases: the workflow page's "Test cases" card (a panel installed
in `meshhook.extensions`), running and deleting a case, "Save as test case" on a finished
run, the run page's assertion results, "Assert this value" and "Accept as new baseline"."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from meshhook.extensions import Panel
from meshhook.htmx import AuthenticatedHtmxRequest
from meshhook.models import Workflow
from meshhook.problems import ProblemError
from meshhook.services.projects import AnyUser, can_edit, projects_for
from testruns.case_edits import AssertionForm, accept_baseline, assert_value
from testruns.models import TestRun
from testruns.queries import editable_run_or_404, viewable_run_or_404
from testruns.testcase_models import TestCase
from testruns.testcases import TestCaseError, case_from_run, start_case_run

CARD = "testruns/testcase_card.html"
RUN_PARTS = "testruns/run_testcase.html"


def cases_with_last_run(workflow: Workflow) -> QuerySet[TestCase]:
    last = TestRun.objects.filter(test_case=OuterRef("pk")).order_by("-created_at", "-id")
    return workflow.test_cases.order_by("name").annotate(
        last_run_id=Subquery(last.values("id")[:1]),
        last_run_status=Subquery(last.values("status")[:1]),
    )


def card_context(workflow: Workflow, user: AnyUser) -> dict[str, object]:
    return {
        "workflow": workflow,
        "cases": list(cases_with_last_run(workflow)),
        "can_edit": can_edit(user, workflow.project),
    }


def workflow_panels(workflow: Workflow, request: HttpRequest) -> Sequence[Panel]:
    """The workflow page's "Test cases" card."""
    return [Panel(CARD, card_context(workflow, request.user))]


def _case_or_404(user: AnyUser, case_id: object) -> TestCase:
    case = (
        TestCase.objects.filter(workflow__project__in=projects_for(user), pk=case_id)
        .select_related("workflow__project", "replay_from_run", "baseline_run")
        .first()
    )
    if case is None:
        raise Http404("No such test case.")
    if not can_edit(user, case.workflow.project):
        raise PermissionDenied("Viewers cannot run or delete test cases.")
    return case


def _go(request: AuthenticatedHtmxRequest, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@login_required
@require_POST
def testcase_run(request: AuthenticatedHtmxRequest, case_id: str) -> HttpResponse:
    case = _case_or_404(request.user, case_id)
    try:
        run = start_case_run(case, user=request.user, source=TestRun.Source.CONSOLE)
    except ProblemError as error:  # its environment is gone, a mocked node was removed…
        return HttpResponse(str(error), status=error.status)
    return _go(request, reverse("testrun_detail", args=[run.id]))


@login_required
@require_POST
def testcase_delete(request: AuthenticatedHtmxRequest, case_id: str) -> HttpResponse:
    case = _case_or_404(request.user, case_id)
    workflow = case.workflow
    case.delete()
    if request.htmx:
        return render(request, CARD, {"panel": card_context(workflow, request.user)})
    return redirect(f"{workflow.get_absolute_url()}#test-cases")


@login_required
@require_POST
def testcase_from_run(request: AuthenticatedHtmxRequest, run_id: str) -> HttpResponse:
    run = editable_run_or_404(request.user, run_id)
    if not run.is_finished:
        return HttpResponse("Save a run as a test case once it has finished.", status=409)
    name = request.POST.get("name", "").strip()
    try:
        case_from_run(run, name, user=request.user)
    except TestCaseError as error:
        context = {"run": run, "can_control": True, "name": name, "problems": error.problems}
        return render(request, f"{RUN_PARTS}#save_form", context, status=400)
    return _go(request, f"{run.workflow.get_absolute_url()}#test-cases")


@login_required
@require_GET
def run_assertions(request: AuthenticatedHtmxRequest, run_id: str) -> HttpResponse:
    """The run page's assertion card, polled while the run has not ended."""
    run = viewable_run_or_404(request.user, run_id)
    context = {"run": run, "can_control": can_edit(request.user, run.project)}
    return render(request, f"{RUN_PARTS}#assertions_card", context)


@login_required
@require_POST
def testcase_assert_value(request: AuthenticatedHtmxRequest, run_id: str) -> HttpResponse:
    """The JSON viewer's "Assert": one assertion on a value of this run, saved into a test
    case (the run's own by default, or a new one made from the run)."""
    run = editable_run_or_404(request.user, run_id)
    if not run.is_finished:
        return HttpResponse("Assert values of a run once it has finished.", status=409)
    form = AssertionForm.from_post(request.POST)
    try:
        saved = assert_value(run, form, user=request.user)
    except TestCaseError as error:
        context = {"run": run, "form": form, "problems": error.problems}
        return render(request, f"{RUN_PARTS}#assert_form", context, status=400)
    return render(request, f"{RUN_PARTS}#assert_saved", {"run": run, "saved": saved})


@login_required
@require_POST
def testcase_accept_baseline(request: AuthenticatedHtmxRequest, run_id: str) -> HttpResponse:
    """Accept as new baseline: this run of a test case becomes the one its runs must match."""
    run = editable_run_or_404(request.user, run_id)
    if run.test_case_id is None:
        return HttpResponse("This run is not a run of a test case.", status=409)
    if not run.is_finished:
        return HttpResponse("Accept a run as the baseline once it has finished.", status=409)
    try:
        run.test_case = accept_baseline(run, user=request.user)
    except TestCaseError as error:
        return HttpResponse(str(error.problems[0].message), status=409)
    if request.htmx:
        context = {"run": run, "can_control": True}
        return render(request, f"{RUN_PARTS}#assertions_card", context)
    return redirect(reverse("testrun_detail", args=[run.id]))
