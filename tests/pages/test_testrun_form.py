"""The Test-run form (/workflows/<slug>/test-run/): what it offers, what a valid post starts,
and how every kind of invalid input is refused with the field it is about."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from rq import Queue

from meshhook.models import Environment, Workflow
from testruns.models import RunStatus, TestRun
from tests.factories import (
    EDITORS,
    MEMBERS,
    Team,
    definition,
    make_run,
    make_workflow,
    personal_project,
    run_form,
)
from tests.pages.helpers import problems_in, text_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("who", MEMBERS)
def test_testrun_form_full_page_and_htmx_partial(team: Team, who: str) -> None:
    url = team.url("/workflows/lead-flow/test-run/")
    page = team.client(who).get(url)
    partial = team.client(who, htmx=True).get(url)

    assert page.status_code == 200
    assert partial.status_code == 200
    assert "<html" in page.content.decode()
    body = partial.content.decode()
    assert "<html" not in body
    assert body.lstrip().startswith("<form")
    assert 'id="testrun-form"' in body
    for node_id in ("hook", "map", "hot", "notify", "done"):
        assert f'name="breakpoints" value="{node_id}"' in body
    assert '<option value="local"' in body
    assert ('id="start-run"' in body) is (who in EDITORS)
    assert ("Viewers cannot start test runs." in body) is (who == "viewer")


def test_testrun_form_is_404_for_outsiders(team: Team) -> None:
    url = team.url("/workflows/lead-flow/test-run/")
    assert team.client("outsider").get(url).status_code == 404
    assert team.client("outsider", htmx=True).get(url).status_code == 404


def test_testrun_form_offers_test_environments_only(
    team: Team, secret_environment: Environment
) -> None:
    body = team.client("owner").get(team.url("/workflows/lead-flow/test-run/")).content.decode()
    assert '<option value="staging"' in body
    assert '<option value="prod"' not in body


def test_testrun_form_prefills_from_the_last_run(team: Team, run_queue: Queue) -> None:
    make_run(
        team.workflow,
        team.owner,
        payload={"lead": "prefilled-lead@example.com"},
        headers={"X-Prefilled": "yes"},
        breakpoints=["hot"],
    )
    body = text_of(team.client("editor").get(team.url("/workflows/lead-flow/test-run/")))
    assert "prefilled-lead@example.com" in body
    assert 'value="X-Prefilled"' in body
    assert 'value="hot" checked' in body


def test_testrun_form_from_a_run_of_an_other_project_is_404(team: Team) -> None:
    theirs = make_workflow(personal_project(team.outsider), user=team.outsider)
    run = make_run(theirs, team.outsider)
    url = team.url(f"/workflows/lead-flow/test-run/?from_run={run.id}")
    assert team.client("owner").get(url).status_code == 404


@pytest.mark.parametrize("who", EDITORS)
def test_valid_form_starts_a_run_and_redirects_to_it(
    team: Team, who: str, run_queue: Queue
) -> None:
    response = team.client(who).post(
        team.url("/workflows/lead-flow/test-run/"),
        run_form(mode="step", breakpoints=["hot"], honor_delays="on"),
    )

    assert response.status_code == 302
    run = TestRun.objects.get()
    assert response["Location"] == f"/test-runs/{run.id}/"
    assert run.workflow == team.workflow
    assert run.workflow_version.number == 1
    assert run.triggered_by == team.user(who)
    assert run.source == TestRun.Source.CONSOLE
    assert run.status == RunStatus.QUEUED
    assert run.payload == {"score": 90, "email": "a@example.com"}
    assert run.headers == {"X-Source": "console-test"}
    assert run.mode == "step"
    assert run.breakpoints == ["hot"]
    assert run.honor_delays is True
    assert run.environment_name == "local"


def test_valid_htmx_form_answers_with_hx_redirect(team: Team, run_queue: Queue) -> None:
    response = team.client("editor", htmx=True).post(
        team.url("/workflows/lead-flow/test-run/"), run_form()
    )
    assert response.status_code == 200
    run = TestRun.objects.get()
    assert response["HX-Redirect"] == f"/test-runs/{run.id}/"


def test_form_runs_the_version_asked_for(team: Team, run_queue: Queue) -> None:
    make_workflow(team.project, definition(name="Lead flow v2"), team.owner)
    response = team.client("owner").post(
        team.url("/workflows/lead-flow/test-run/"), run_form(version="1")
    )
    assert response.status_code == 302
    assert TestRun.objects.get().workflow_version.number == 1


def test_empty_payload_is_an_empty_object(team: Team, run_queue: Queue) -> None:
    response = team.client("owner").post(
        team.url("/workflows/lead-flow/test-run/"), run_form(payload="  ")
    )
    assert response.status_code == 302
    assert TestRun.objects.get().payload == {}


def test_viewer_post_is_403_with_a_message_and_creates_nothing(
    team: Team, run_queue: Queue
) -> None:
    for client in (team.client("viewer"), team.client("viewer", htmx=True)):
        response = client.post(team.url("/workflows/lead-flow/test-run/"), run_form())
        assert response.status_code == 403
        assert "Viewers cannot start test runs." in response.content.decode()
        assert 'id="start-run"' not in response.content.decode()
    assert not TestRun.objects.exists()
    assert run_queue.count == 0


def test_outsider_post_is_404_and_creates_nothing(team: Team, run_queue: Queue) -> None:
    response = team.client("outsider").post(team.url("/workflows/lead-flow/test-run/"), run_form())
    assert response.status_code == 404
    assert not TestRun.objects.exists()


def test_raw_headers_end_up_in_the_run(team: Team, run_queue: Queue) -> None:
    raw_headers = (
        "> POST /hook HTTP/1.1\n"
        "Content-Type: application/json\n"
        "X-Signature: sha256=abc:def\n"
        "\n"
        "# a comment line\n"
        "X-Source: overridden-by-raw\n"
    )
    response = team.client("owner").post(
        team.url("/workflows/lead-flow/test-run/"), run_form(raw_headers=raw_headers)
    )
    assert response.status_code == 302
    assert TestRun.objects.get().headers == {
        "X-Source": "overridden-by-raw",
        "Content-Type": "application/json",
        "X-Signature": "sha256=abc:def",
    }


# (form changes, the problem path, part of the message)
INVALID_FORMS: list[tuple[str, dict[str, Any], str, str]] = [
    ("payload-not-json", {"payload": '{"score": 90,'}, "payload", "Not valid JSON"),
    ("production-environment", {"environment": "prod"}, "environment", "production"),
    ("unknown-environment", {"environment": "nowhere"}, "environment", "No environment"),
    ("unknown-breakpoint", {"breakpoints": ["ghost"]}, "breakpoints[0]", "No node 'ghost'"),
    (
        "second-breakpoint-unknown",
        {"breakpoints": ["hot", "ghost"]},
        "breakpoints[1]",
        "No node 'ghost'",
    ),
    ("mocks-not-json", {"mocks": "{notify: 1}"}, "mocks", "Not valid JSON"),
    ("mocks-not-an-object", {"mocks": "[1, 2]"}, "mocks", "Mocks must be an object"),
    ("mock-of-unknown-node", {"mocks": '{"ghost": {}}'}, "mocks.ghost", "No node 'ghost'"),
    ("bad-mode", {"mode": "turbo"}, "mode", "The mode must be"),
    (
        "bad-header-name",
        {"header_name": ["Bad Header"], "header_value": ["x"]},
        "headers.Bad Header",
        "not a valid header name",
    ),
]


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [case[1:] for case in INVALID_FORMS],
    ids=[case[0] for case in INVALID_FORMS],
)
def test_invalid_form_is_400_naming_the_field_and_starts_nothing(
    team: Team,
    secret_environment: Environment,
    run_queue: Queue,
    htmx: bool,
    changes: dict[str, Any],
    path: str,
    message: str,
) -> None:
    response = team.client("editor", htmx=htmx).post(
        team.url("/workflows/lead-flow/test-run/"), run_form(**changes)
    )

    assert response.status_code == 400
    shown = problems_in(response)
    assert any(p == path and message in m for p, m in shown), shown
    body = response.content.decode()
    assert ("<html" in body) is not htmx
    assert 'id="testrun-form"' in body
    assert not TestRun.objects.exists()
    assert run_queue.count == 0


def test_payload_error_is_shown_next_to_the_payload(team: Team) -> None:
    response = team.client("owner").post(
        team.url("/workflows/lead-flow/test-run/"), run_form(payload="{oops")
    )
    assert response.status_code == 400
    match = re.search(
        r'<div class="field-error" id="payload-error">([^<]*)</div>', text_of(response)
    )
    assert match
    assert match.group(1).startswith("Not valid JSON")


def test_production_environment_error_is_shown_next_to_the_environment(
    team: Team, secret_environment: Environment
) -> None:
    response = team.client("owner").post(
        team.url("/workflows/lead-flow/test-run/"), run_form(environment="prod")
    )
    assert response.status_code == 400
    assert "'prod' is a production environment" in text_of(response)
    assert not TestRun.objects.exists()


def test_every_form_problem_is_listed_at_once(team: Team) -> None:
    response = team.client("owner").post(
        team.url("/workflows/lead-flow/test-run/"),
        run_form(payload="nope", mocks="nope"),
    )
    assert response.status_code == 400
    assert {p for p, _ in problems_in(response)} == {"payload", "mocks"}


def test_invalid_payload_and_mocks_text_are_kept_in_the_form(team: Team) -> None:
    response = team.client("owner").post(
        team.url("/workflows/lead-flow/test-run/"),
        run_form(payload='{"email": "typed@example.com",', mocks='{"notify": '),
    )
    assert response.status_code == 400
    body = text_of(response)
    assert '{"email": "typed@example.com",' in body
    assert '{"notify": ' in body


def test_testrun_form_posts_to_the_workflow_it_shows(
    team: Team, twin: Workflow, run_queue: Queue
) -> None:
    client = team.client("owner")
    for workflow in (team.workflow, twin):
        url = f"/workflows/lead-flow/test-run/?project={workflow.project.slug}"
        body = client.get(url).content.decode()
        match = re.search(r'<form id="testrun-form" method="post" action="([^"]*)"', body)
        assert match
        response = client.post(html.unescape(match.group(1)), run_form())
        assert response.status_code == 302
        run = TestRun.objects.order_by("-created_at").first()
        assert run is not None
        assert run.workflow == workflow


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ('{"a": NaN}', "NaN is not a JSON value"),
        ('{"a": Infinity}', "Infinity is not a JSON value"),
        ('{"a": 1, "a": 2}', "appears twice"),
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
    ],
)
def test_unusual_payload_json_is_a_400_naming_payload(
    team: Team, payload: str, message: str, run_queue: Queue
) -> None:
    response = team.client("owner").post(
        team.url("/workflows/lead-flow/test-run/"), run_form(payload=payload)
    )
    assert response.status_code == 400
    assert message in text_of(response)
    assert not TestRun.objects.exists()


def test_breakpoint_inside_a_loop_is_refused_with_its_path(team: Team, run_queue: Queue) -> None:
    looped = definition(
        "looped",
        nodes=[
            {"id": "hook", "type": "webhook_trigger"},
            {"id": "each", "type": "loop", "config": {"items": "body.items"}},
            {
                "id": "inner",
                "type": "transform",
                "parent": "each",
                "config": {"expression": "item"},
            },
        ],
        edges=[{"source": "hook", "target": "each"}],
    )
    make_workflow(team.project, looped, user=team.owner)
    response = team.client("owner").post(
        team.url("/workflows/looped/test-run/"), run_form(breakpoints=["inner"])
    )
    assert response.status_code == 400
    assert "breakpoints[0]" in text_of(response)
    assert "break on the loop" in text_of(response)
