"""`/api/test-cases` and `POST /api/test-runs` with a test case: the contract of DESIGN §8,
every problem's path in a 400, and owner / editor / viewer / outsider on every endpoint."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from testruns.models import TestRun
from testruns.testcase_models import CaseRunSpec, TestCase
from tests.api.helpers import assert_error, send
from tests.factories import Team
from tests.testcases.helpers import make_case

pytestmark = pytest.mark.django_db

BODY: dict[str, Any] = {
    "workflow": "lead-flow",
    "name": "hot lead is announced",
    "description": "score above 80",
    "payload": {"name": "Ada", "score": 92},
    "headers": {"X-Form": "pricing"},
    "environment": "local",
    "mocks": {"map": {"name": "Ada", "score": 92}},
    "volatile_paths": ["steps.*.output.headers.date"],
    "assertions": [
        {"target": "run.status", "op": "equals", "expected": "passed"},
        {"target": "step.output", "node": "map", "path": "score", "op": "gt", "expected": 80},
    ],
}
FIELDS = {
    "id", "workflow", "project", "name", "description", "payload", "headers", "environment",
    "mocks", "assertions", "baseline_run", "volatile_paths", "replay_from_run", "created_at",
    "updated_at", "created_by", "api_url",
}  # fmt: skip


def client(team: Team, who: str) -> Client:
    return team.bearer(team.user(who))


def create(team: Team, who: str = "owner", **changes: Any) -> Any:
    return send(client(team, who), "POST", team.url("/api/test-cases"), {**BODY, **changes})


# --- create and read ------------------------------------------------------------------------


def test_create_answers_the_test_case(team: Team) -> None:
    response = create(team)

    assert response.status_code == 201, response.data
    data = response.data
    assert set(data) == FIELDS
    assert {key: data[key] for key in BODY} == BODY
    assert data["project"] == team.project.slug
    assert data["created_by"] == team.owner.username
    assert data["baseline_run"] is None
    assert response["Location"] == f"/api/test-cases/{data['id']}"
    assert TestCase.objects.get(pk=data["id"]).workflow == team.workflow


def test_get_list_and_filters(team: Team) -> None:
    first = create(team).data
    second = create(team, name="cold lead").data

    listed = send(client(team, "viewer"), "GET", "/api/test-cases").data["results"]
    by_workflow = send(client(team, "viewer"), "GET", "/api/test-cases?workflow=nope").data
    item = send(client(team, "viewer"), "GET", f"/api/test-cases/{first['id']}").data

    assert [case["name"] for case in listed] == ["cold lead", "hot lead is announced"]
    assert by_workflow == {"results": []}
    assert item == first
    assert {case["id"] for case in listed} == {first["id"], second["id"]}


def test_every_problem_comes_back_with_its_path(team: Team) -> None:
    response = create(
        team,
        name="",
        headers={"bad name": "x"},
        environment="nowhere",
        mocks={"ghost": {}},
        assertions=[
            {"target": "run.status", "op": "equals", "expected": "passed"},
            {"target": "step.output", "node": "ghost", "op": "gt", "expected": 1},
            {"target": "run.result", "op": "sorta"},
        ],
        volatile_paths="headers",
        baseline_run="nope",
        replay_from_run=str(uuid.uuid4()),
    )

    assert_error(
        response, 400,
        "name", "headers.bad name", "environment", "mocks.ghost", "assertions[1].node",
        "assertions[2].op", "volatile_paths", "baseline_run", "replay_from_run",
    )  # fmt: skip


def test_unknown_fields_and_a_duplicate_name_are_refused(team: Team) -> None:
    create(team)

    assert_error(create(team, id=str(uuid.uuid4()), colour="red"), 400, "id", "colour")
    assert_error(create(team), 400, "name")


def test_a_case_of_an_unknown_workflow_is_404(team: Team) -> None:
    assert_error(create(team, workflow="nope"), 404, "workflow")
    assert_error(create(team, workflow=None), 400, "workflow")


# --- change and delete ------------------------------------------------------------------


def test_put_changes_the_fields_given_and_keeps_the_rest(team: Team) -> None:
    data = create(team).data
    url = f"/api/test-cases/{data['id']}"

    changed = send(client(team, "editor"), "PUT", url, {"name": "renamed", "payload": {}})
    round_trip = send(client(team, "editor"), "PUT", url, {**changed.data, "description": "x"})

    assert changed.status_code == 200, changed.data
    assert changed.data["name"] == "renamed"
    assert changed.data["payload"] == {}
    assert changed.data["assertions"] == BODY["assertions"]
    assert round_trip.status_code == 200, round_trip.data
    assert round_trip.data["description"] == "x"
    assert round_trip.data["updated_at"] >= data["updated_at"]
    bad = send(client(team, "editor"), "PUT", url, {"assertions": [{"op": "equals"}]})
    assert_error(bad, 400, "assertions[0].target", "assertions[0].expected")
    wrong_id = send(client(team, "editor"), "PUT", url, {"id": str(uuid.uuid4())})
    assert_error(wrong_id, 400, "id")


def test_delete_keeps_the_runs(team: Team, django_capture_on_commit_callbacks: Any) -> None:
    data = create(team).data
    with django_capture_on_commit_callbacks(execute=True):
        started = send(client(team, "owner"), "POST", "/api/test-runs", {"test_case": data["id"]})

    response = send(client(team, "owner"), "DELETE", f"/api/test-cases/{data['id']}")

    assert response.status_code == 204
    assert not TestCase.objects.filter(pk=data["id"]).exists()
    assert TestRun.objects.get(pk=started.data["id"]).test_case is None


# --- running a test case --------------------------------------------------------------------


def test_start_a_run_of_a_test_case(team: Team, django_capture_on_commit_callbacks: Any) -> None:
    data = create(team).data
    with django_capture_on_commit_callbacks(execute=True):
        response = send(
            client(team, "editor"), "POST", "/api/test-runs",
            {"test_case": data["id"], "payload": {"name": "Bob", "score": 3}, "source": "ci"},
        )  # fmt: skip

    assert response.status_code == 201, response.data
    run = TestRun.objects.get(pk=response.data["id"])
    assert run.test_case_id == uuid.UUID(data["id"])
    assert run.payload == {"name": "Bob", "score": 3}  # the body overrides the case
    assert run.headers == BODY["headers"]  # the rest comes from the case
    assert run.mocks == BODY["mocks"]
    assert run.source == "ci"
    assert CaseRunSpec.objects.get(run=run).assertions == BODY["assertions"]
    detail = send(client(team, "viewer"), "GET", f"/api/test-runs/{run.id}").data
    assert detail["test_case"] == data["id"]
    assert [item["passed"] for item in detail["assertions"]] == [None, None]


def test_a_run_of_a_test_case_checks_what_it_is_given(team: Team) -> None:
    data = create(team).data
    owner = client(team, "owner")

    assert_error(send(owner, "POST", "/api/test-runs", {"test_case": "7"}), 400, "test_case")
    unknown = {"test_case": str(uuid.uuid4())}
    assert_error(send(owner, "POST", "/api/test-runs", unknown), 404, "test_case")
    other = {"test_case": data["id"], "workflow": "other"}
    assert_error(send(owner, "POST", "/api/test-runs", other), 400, "workflow")
    bad_override = {"test_case": data["id"], "environment": "nowhere", "mode": "x"}
    assert_error(send(owner, "POST", "/api/test-runs", bad_override), 400, "environment", "mode")


# --- who may do what --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "read", "write"),
    [("owner", 200, 201), ("editor", 200, 201), ("viewer", 200, 403), ("outsider", 404, 404)],
)
def test_roles_on_the_collection(team: Team, who: str, read: int, write: int) -> None:
    make_case(team.workflow, team.owner)

    listed = send(client(team, who), "GET", team.url("/api/test-cases"))
    created = create(team, who)

    assert listed.status_code == read
    if read == 200:
        assert len(listed.data["results"]) == 1
    assert created.status_code == write, created.data


@pytest.mark.parametrize(
    ("who", "read", "change", "delete", "run"),
    [
        ("owner", 200, 200, 204, 201),
        ("editor", 200, 200, 204, 201),
        ("viewer", 200, 403, 403, 403),
        ("outsider", 404, 404, 404, 404),
    ],
)
def test_roles_on_one_test_case(
    team: Team, who: str, read: int, change: int, delete: int, run: int
) -> None:
    case = make_case(team.workflow, team.owner)
    url = f"/api/test-cases/{case.id}"
    as_user = client(team, who)

    assert send(as_user, "GET", url).status_code == read
    assert send(as_user, "PUT", url, {"description": "changed"}).status_code == change
    started = send(as_user, "POST", "/api/test-runs", {"test_case": str(case.id)})
    assert started.status_code == run
    assert send(as_user, "DELETE", url).status_code == delete
    if who == "outsider":
        assert "lead" not in send(as_user, "GET", url).content.decode()


def test_anonymous_is_401(team: Team) -> None:
    case = make_case(team.workflow, team.owner)

    assert_error(send(Client(), "GET", "/api/test-cases"), 401)
    assert_error(send(Client(), "GET", f"/api/test-cases/{case.id}"), 401)
    assert_error(send(Client(), "GET", "/api/test-cases/not-a-uuid"), 401)
    assert_error(send(client(team, "owner"), "GET", "/api/test-cases/not-a-uuid"), 404)


# --- credentials ----------------------------------------------------------------------------


def test_a_credential_header_is_stored_encrypted_shown_masked_and_sent_for_real(
    team: Team,
) -> None:
    secret = "Bearer case-canary-77f1"
    response = create(team, headers={"Authorization": secret, "X-Form": "pricing"})
    assert response.status_code == 201, response.data
    assert response.data["headers"]["Authorization"] != secret
    assert "case-canary-77f1" not in str(response.data)
    case = TestCase.objects.get(pk=response.data["id"])
    assert "case-canary-77f1" not in str(case.headers)  # encrypted at rest
    assert case.headers_for_engine()["Authorization"] == secret
    # An update that sends the mask back keeps the stored value, and its ciphertext.
    stored = case.headers["Authorization"]
    path = team.url(f"/api/test-cases/{case.pk}")
    shown = response.data["headers"]
    updated = send(client(team, "owner"), "PUT", path, {"headers": shown, "name": "renamed"})
    assert updated.status_code == 200, updated.data
    case.refresh_from_db()
    assert case.headers["Authorization"] == stored
    started = send(client(team, "owner"), "POST", team.url("/api/test-runs"),
                   {"test_case": str(case.pk)})  # fmt: skip
    assert started.status_code == 201, started.data
    run = TestRun.objects.get(pk=started.data["id"])
    assert run.headers_for_engine()["Authorization"] == secret
