"""Suites end to end: every test case in scope runs as an ordinary run on the queue, the
suite ends when its last run ends, with counts, pass rate and duration, and its JUnit XML
reads back through junitparser; owner / editor / viewer / outsider on every endpoint."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from testruns.models import RunStatus
from testruns.services import cancel_run
from testruns.testcase_models import SuiteStatus, TestSuiteRun
from tests.api.helpers import assert_error, send
from tests.factories import Team, definition, make_workflow
from tests.testcases.helpers import make_case

PASSES = {"target": "step.output", "node": "map", "path": "score", "op": "gt", "expected": 80}
FAILS = {"target": "step.output", "node": "map", "path": "score", "op": "gt", "expected": 95}


def cases(team: Team) -> None:
    """Two passing cases and one failing one on the team's workflow, one on another."""
    make_case(team.workflow, team.owner, name="hot", assertions=[PASSES])
    make_case(team.workflow, team.owner, name="cold", payload={"name": "Bo", "score": 10},
              assertions=[{"target": "step.status", "node": "notify", "op": "equals",
                           "expected": "skipped"}])  # fmt: skip
    make_case(team.workflow, team.owner, name="too hot", assertions=[FAILS])
    other = make_workflow(team.project, definition("second"), team.owner)
    make_case(other, team.owner, name="other")


def parse(content: bytes) -> JUnitXml:
    return JUnitXml.fromstring(content)


@pytest.mark.django_db(transaction=True)
def test_a_suite_runs_every_case_and_ends_with_its_last_run(
    team: Team, drain: Callable[[], int]
) -> None:
    cases(team)
    editor = team.bearer(team.editor)

    started = send(editor, "POST", team.url("/api/suites"), {"source": "ci"})

    assert started.status_code == 201, started.data
    assert set(started.data) == {"id", "status", "url", "junit_url"}
    assert started.data["status"] == "queued"
    assert started["Location"] == f"/api/suites/{started.data['id']}"
    suite = TestSuiteRun.objects.get(pk=started.data["id"])
    assert suite.runs.count() == 4
    assert set(suite.runs.values_list("status", flat=True)) == {RunStatus.QUEUED}
    assert drain() == 4  # four jobs: any worker may take any of them

    data = send(team.bearer(team.viewer), "GET", f"/api/suites/{suite.id}").data

    assert data["status"] == "failed"
    assert (data["total"], data["passed"], data["failed"], data["error"]) == (4, 3, 1, 0)
    assert data["pass_rate"] == 0.75
    assert data["duration_ms"] is not None
    assert data["source"] == "ci"
    assert data["completed_at"] is not None
    assert sorted(run["test_case_name"] for run in data["runs"]) == [
        "cold", "hot", "other", "too hot",
    ]  # fmt: skip
    failed = next(run for run in data["runs"] if run["status"] == "failed")
    assert failed["test_case_name"] == "too hot"
    assert failed["assertions"][0]["message"] == (
        "step.output of 'map' at score: expected > 95, actual 90"
    )


@pytest.mark.django_db(transaction=True)
def test_the_junit_of_a_suite(team: Team, drain: Callable[[], int]) -> None:
    cases(team)
    suite_id = send(team.bearer(team.owner), "POST", team.url("/api/suites"), {}).data["id"]
    drain()

    response = team.bearer(team.viewer).get(f"/api/suites/{suite_id}/junit")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/xml")
    xml = parse(response.content)
    suites = {suite.name: suite for suite in xml}
    assert set(suites) == {"lead-flow", "second"}
    lead = suites["lead-flow"]
    assert (lead.tests, lead.failures, lead.errors) == (3, 1, 0)
    results = {case.name: case.result for case in lead}
    assert results["hot"] == []
    (failure,) = results["too hot"]
    assert isinstance(failure, Failure)
    assert failure.message == (
        "1 assertion failed: step.output of 'map' at score: expected > 95, actual 90"
    )
    assert "- step.output of 'map' at score: expected > 95, actual 90" in failure.text
    assert {case.classname for case in lead} == {f"{team.project.slug}.lead-flow"}


@pytest.mark.django_db(transaction=True)
def test_errors_and_cases_that_cannot_start(team: Team, drain: Callable[[], int]) -> None:
    make_case(team.workflow, team.owner, name="fine")
    broken = make_case(team.workflow, team.owner, name="broken", mocks={"map": {}})
    cancelled = make_case(team.workflow, team.owner, name="cancelled")
    # The mocked node is gone from the current version: that case cannot start.
    changed = definition(
        nodes=[{"id": "hook", "type": "webhook_trigger"},
               {"id": "renamed", "type": "transform", "config": {"expression": "body"}}],
        edges=[{"source": "hook", "target": "renamed"}],
    )  # fmt: skip
    make_workflow(team.project, changed, team.owner)
    started = send(team.bearer(team.owner), "POST", team.url("/api/suites"),
                   {"workflow": "lead-flow"})  # fmt: skip
    suite = TestSuiteRun.objects.get(pk=started.data["id"])
    cancel_run(suite.runs.get(test_case=cancelled))
    drain()

    suite.refresh_from_db()
    assert suite.status == SuiteStatus.ERROR
    assert (suite.total, suite.passed_count, suite.failed_count, suite.error_count) == (3, 1, 0, 2)
    assert suite.start_errors == [
        {"test_case": str(broken.id), "name": "broken", "workflow": "lead-flow",
         "error": "Could not start: mocks.map: No node 'map' in the workflow."},
    ]  # fmt: skip
    xml = parse(team.bearer(team.owner).get(f"/api/suites/{suite.id}/junit").content)
    results = {case.name: case.result for suite in xml for case in suite}
    assert isinstance(results["broken"][0], Error)
    assert isinstance(results["cancelled"][0], Skipped)
    assert results["fine"] == []


@pytest.mark.django_db
def test_nothing_to_run_and_bad_scopes(team: Team) -> None:
    owner = team.bearer(team.owner)

    assert_error(send(owner, "POST", team.url("/api/suites"), {}), 400, "project")
    assert_error(send(owner, "POST", team.url("/api/suites"), {"workflow": "nope"}), 404,
                 "workflow")  # fmt: skip
    make_case(team.workflow, team.owner)
    body: dict[str, Any] = {"workflow": "lead-flow", "environment": "nowhere"}
    assert_error(send(owner, "POST", team.url("/api/suites"), body), 400, "environment")
    assert_error(send(owner, "POST", team.url("/api/suites"), {"colour": 1}), 400, "colour")
    assert_error(send(owner, "GET", "/api/suites/not-a-uuid"), 404)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "start", "read"),
    [("owner", 201, 200), ("editor", 201, 200), ("viewer", 403, 200), ("outsider", 404, 404)],
)
def test_roles_on_suites(
    team: Team, who: str, start: int, read: int, django_capture_on_commit_callbacks: Any
) -> None:
    make_case(team.workflow, team.owner)
    as_user = team.bearer(team.user(who))
    with django_capture_on_commit_callbacks(execute=True):
        own = send(team.bearer(team.owner), "POST", team.url("/api/suites"), {}).data["id"]
        started = send(as_user, "POST", team.url("/api/suites"), {"workflow": "lead-flow"})

    assert started.status_code == start, started.data
    assert send(as_user, "GET", f"/api/suites/{own}").status_code == read
    junit = as_user.get(f"/api/suites/{own}/junit")
    assert junit.status_code == read
    if who == "outsider":
        assert_error(junit, 404)
