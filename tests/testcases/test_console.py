"""The console's test-case pieces: the workflow page's "Test cases" card (a panel through
meshhook.extensions), Run / Delete, "Save as test case" on a finished run, and the run
page's assertion results; owner / editor / viewer / outsider for each."""

from __future__ import annotations

import pytest
from django.template import Context, RequestContext, Template
from django.template.loader import render_to_string
from django.test import RequestFactory

from meshhook import extensions
from testruns.models import RunStatus, TestRun
from testruns.testcase_models import TestCase
from testruns.testcases import start_case_run
from tests.factories import Team, finished, make_run
from tests.testcases.helpers import make_case

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.testcases.console_urls")]

# What the core workflow page renders for the panels the features install.
CORE_SNIPPET = (
    "{% for panel in panels %}{% include panel.template with panel=panel.context %}{% endfor %}"
)
FAILS = {"target": "step.output", "node": "map", "path": "score", "op": "gt", "expected": 95}
HOLDS = {"target": "run.status", "op": "equals", "expected": "passed"}


def workflow_page_cards(team: Team, who: str) -> str:
    request = RequestFactory().get("/")
    request.user = team.user(who)
    panels = extensions.workflow_runs.panels(team.workflow, request)
    return Template("{% load static %}" + CORE_SNIPPET).render(
        RequestContext(request, {"panels": panels})
    )


@pytest.mark.parametrize(("who", "buttons"), [("owner", True), ("editor", True),
                                              ("viewer", False)])  # fmt: skip
def test_the_workflow_page_card_lists_the_cases(team: Team, who: str, buttons: bool) -> None:
    case = make_case(team.workflow, team.owner, assertions=[HOLDS])
    make_case(team.workflow, team.owner, name="another")
    run = finished(start_case_run(case, user=team.owner, source="console"))

    html = workflow_page_cards(team, who)

    assert 'id="test-cases"' in html
    assert html.index("another") < html.index("hot lead")  # by name
    assert "1 assertion" in html
    assert f"/test-runs/{run.id}/" in html  # its last run, with its status
    assert "never run" in html
    assert (f"/test-cases/{case.id}/run/" in html) is buttons
    assert (f"/test-cases/{case.id}/delete/" in html) is buttons


def test_no_cases_yet(team: Team) -> None:
    assert "No test cases yet" in workflow_page_cards(team, "owner")


@pytest.mark.parametrize(("who", "status"), [("owner", 302), ("editor", 302), ("viewer", 403),
                                             ("outsider", 404)])  # fmt: skip
def test_run_a_case(team: Team, who: str, status: int) -> None:
    case = make_case(team.workflow, team.owner)

    response = team.client(who).post(f"/test-cases/{case.id}/run/")

    assert response.status_code == status
    if status == 302:
        run = TestRun.objects.get(test_case=case)
        assert response["Location"] == f"/test-runs/{run.id}/"
        assert run.source == "console"
        assert run.triggered_by == team.user(who)
    else:
        assert not TestRun.objects.filter(test_case=case).exists()


def test_run_a_case_with_htmx_and_anonymously(team: Team) -> None:
    case = make_case(team.workflow, team.owner)

    response = team.client("editor", htmx=True).post(f"/test-cases/{case.id}/run/")
    anonymous = team.client("anonymous").post(f"/test-cases/{case.id}/run/")

    run = TestRun.objects.get(test_case=case)
    assert response["HX-Redirect"] == f"/test-runs/{run.id}/"
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/login/")


@pytest.mark.parametrize(("who", "status"), [("owner", 200), ("editor", 200), ("viewer", 403),
                                             ("outsider", 404)])  # fmt: skip
def test_delete_a_case(team: Team, who: str, status: int) -> None:
    case = make_case(team.workflow, team.owner)
    kept = make_case(team.workflow, team.owner, name="kept")

    response = team.client(who, htmx=True).post(f"/test-cases/{case.id}/delete/")

    assert response.status_code == status
    assert TestCase.objects.filter(pk=case.pk).exists() is (status != 200)
    if status == 200:
        html = response.content.decode()
        assert 'id="test-cases"' in html
        assert kept.name in html
        assert case.name not in html
    plain = team.client("owner").post(f"/test-cases/{kept.id}/delete/")
    if status == 200:
        assert plain["Location"] == f"{team.workflow.get_absolute_url()}#test-cases"


@pytest.mark.parametrize(("who", "status"), [("owner", 302), ("editor", 302), ("viewer", 403),
                                             ("outsider", 404)])  # fmt: skip
def test_save_a_finished_run_as_a_test_case(team: Team, who: str, status: int) -> None:
    run = finished(make_run(team.workflow, team.owner, payload={"score": 5}))

    response = team.client(who).post(f"/test-cases/from-run/{run.id}/", {"name": "from a run"})

    assert response.status_code == status
    case = TestCase.objects.filter(name="from a run").first()
    assert (case is not None) is (status == 302)
    if case is not None:
        assert response["Location"] == f"{team.workflow.get_absolute_url()}#test-cases"
        assert case.payload == {"score": 5}
        assert case.baseline_run_id == run.id  # it passed: it is the baseline
        assert case.assertions == [HOLDS]
        assert case.created_by == team.user(who)


def test_save_as_test_case_needs_a_finished_run_and_a_free_name(team: Team) -> None:
    running = make_run(team.workflow, team.owner)
    done = finished(make_run(team.workflow, team.owner), RunStatus.FAILED)
    make_case(team.workflow, team.owner, name="taken")
    client = team.client("owner", htmx=True)

    assert client.post(f"/test-cases/from-run/{running.id}/", {"name": "x"}).status_code == 409
    clash = client.post(f"/test-cases/from-run/{done.id}/", {"name": "taken"})
    assert clash.status_code == 400
    assert "already has a test case" in clash.content.decode()
    assert 'id="save-as-test-case"' in clash.content.decode()
    saved = client.post(f"/test-cases/from-run/{done.id}/", {"name": "failed one"})
    assert saved["HX-Redirect"] == f"{team.workflow.get_absolute_url()}#test-cases"
    assert TestCase.objects.get(name="failed one").baseline_run is None  # it failed


def run_page_parts(run: TestRun, can_control: bool) -> str:
    request = RequestFactory().get("/")
    assert run.triggered_by is not None
    request.user = run.triggered_by
    return render_to_string(
        "testruns/run_testcase.html", {"run": run, "can_control": can_control}, request
    )


def judged(team: Team) -> TestRun:
    case = make_case(team.workflow, team.owner, assertions=[HOLDS, FAILS])
    run = start_case_run(case, user=team.owner, source="console")
    results = [
        {**HOLDS, "node": None, "path": None, "actual": "passed", "passed": True,
         "message": 'run.status: expected "passed", actual "passed"'},
        {**FAILS, "actual": 90, "passed": False,
         "message": "step.output of 'map' at score: expected > 95, actual 90"},
    ]  # fmt: skip
    TestRun.objects.filter(pk=run.pk).update(assertion_results=results)
    return finished(run, RunStatus.FAILED)


def test_the_run_page_shows_assertion_results_failed_first(team: Team) -> None:
    run = judged(team)

    html = run_page_parts(run, can_control=True)

    assert 'id="run-assertions"' in html
    assert "1 failed · 1 of 2 held" in html
    assert html.index("expected &gt; 95, actual 90") < html.index("expected &quot;passed&quot;")
    assert "hot lead" in html  # the test case, linked
    assert "every 2s" not in html  # finished: no polling
    assert 'id="save-as-test-case"' in html
    assert "Save as test case" not in run_page_parts(run, can_control=False)


def test_a_run_under_way_polls_for_its_results(team: Team) -> None:
    case = make_case(team.workflow, team.owner, assertions=[HOLDS])
    run = start_case_run(case, user=team.owner, source="console")

    html = run_page_parts(run, can_control=True)

    assert "1 pending" in html
    assert f'hx-get="/test-cases/checks/{run.id}/"' in html
    assert 'id="save-as-test-case"' not in html  # not finished yet


def test_a_plain_run_shows_no_assertions(team: Team) -> None:
    run = finished(make_run(team.workflow, team.owner))
    assert 'id="run-assertions"' not in run_page_parts(run, can_control=True)


@pytest.mark.parametrize(("who", "status"), [("owner", 200), ("viewer", 200),
                                             ("outsider", 404)])  # fmt: skip
def test_the_polled_assertion_card(team: Team, who: str, status: int) -> None:
    run = judged(team)

    response = team.client(who, htmx=True).get(f"/test-cases/checks/{run.id}/")

    assert response.status_code == status
    if status == 200:
        assert (
            response.content.decode()
            .lstrip()
            .startswith('<section class="card" id="run-assertions"')
        )


def test_the_snippet_renders_nothing_without_panels() -> None:
    assert Template(CORE_SNIPPET).render(Context({"panels": []})) == ""
