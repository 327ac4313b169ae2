"""Credential headers a user types for a test run (the Test-run form, `POST /api/test-runs`):
stored encrypted, sent for real (a re-run too), and masked everywhere else: every step's
input and output, events, the database, the API, the pages, the socket and the admin."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test import Client
from django.urls import reverse
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from meshhook.engine import MASK, credential_values
from meshhook.models import Workflow
from testruns.models import RunEvent, StepRun, TestRun
from testruns.parameters import SEALED
from tests.api.helpers import assert_error, send
from tests.factories import (
    Team,
    allow_server,
    http_chain_definition,
    make_run,
    make_workflow,
    personal_project,
)
from tests.testruns.sockets import run_socket, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

CANARY = "canary-XYZ-123"
AUTHORIZATION = f"Bearer {CANARY}"


def _base64(value: str) -> set[str]:
    raw = value.encode()
    encoded = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    return encoded | {form.rstrip("=") for form in encoded}


# Case-insensitive forms, then base64 ones (case matters there).
PLAIN_FORMS = {CANARY, quote(AUTHORIZATION), quote_plus(AUTHORIZATION), json.dumps(CANARY)[1:-1]}
BASE64_FORMS = _base64(CANARY) | _base64(AUTHORIZATION)


def leaks(text: str) -> list[str]:
    lowered = text.lower()
    found = [form for form in PLAIN_FORMS if form.lower() in lowered]
    return found + [form for form in BASE64_FORMS if form in text]


def database_leaks() -> dict[str, list[str]]:
    """Every column of every table, read with plain SQL."""
    found: dict[str, list[str]] = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            text = repr(cursor.fetchall())
            if leaks(text):
                found[table] = leaks(text)
    return found


def chain(base_url: str) -> dict[str, Any]:
    """hook → shape (copies the token) → call (sends it on) → check → ok | alert."""
    document = http_chain_definition(base_url)
    nodes = {node["id"]: node for node in document["nodes"]}
    nodes["shape"]["config"] = {
        "expression": "{name: body.name, score: body.score, auth: headers.authorization}"
    }
    nodes["call"]["config"]["headers"] = {"Authorization": "{{ trigger.headers.authorization }}"}
    return document


@pytest.fixture
def received() -> list[str]:
    """The Authorization header of each request the server got."""
    return []


@pytest.fixture
def workflow(team: Team, httpserver: HTTPServer, received: list[str]) -> Workflow:
    def echo(request: Request) -> Response:
        seen = request.headers.get("Authorization", "")
        received.append(seen)
        # The receiver echoes the credential back: the response is masked too.
        body = json.dumps(
            {"ok": True, "seen": seen, "b64": base64.b64encode(seen.encode()).decode()}
        )
        return Response(body, content_type="application/json")

    httpserver.expect_request("/items").respond_with_handler(echo)
    base = httpserver.url_for("").rstrip("/")
    allow_server(team.project, base)
    return make_workflow(team.project, chain(base), user=team.owner)


def api_start(team: Team, headers: dict[str, str], who: str = "editor") -> Any:
    body = {"workflow": "chain", "payload": {"name": "Ada", "score": 90}, "headers": headers}
    return send(team.bearer(team.user(who)), "POST", team.url("/api/test-runs"), body)


def form_url(team: Team, run: TestRun | None = None) -> str:
    url = team.url("/workflows/chain/test-run/")
    return f"{url}&from_run={run.id}" if run is not None else url


def prefill(page: str) -> tuple[list[tuple[str, str]], str]:
    """The header rows and the hidden `from_run` of a Test-run form, as a browser posts them."""
    names = re.findall(r'name="header_name" value="([^"]*)"', page)
    values = re.findall(r'name="header_value" value="([^"]*)"', page)
    source = re.search(r'name="from_run" value="([^"]*)"', page)
    rows = [(html.unescape(n), html.unescape(v)) for n, v in zip(names, values, strict=True)]
    return rows, source.group(1) if source else ""


def post_form(team: Team, rows: list[tuple[str, str]], from_run: str) -> Any:
    data = {
        "payload": json.dumps({"name": "Ada", "score": 90}),
        "environment": "local",
        "mode": "auto",
        "header_name": [name for name, _ in rows],
        "header_value": [value for _, value in rows],
    }
    if from_run:
        data["from_run"] = from_run
    return team.client("editor").post(team.url("/workflows/chain/test-run/"), data)


def finished_run(team: Team, drain: Callable[[], int], headers: dict[str, str]) -> TestRun:
    response = api_start(team, headers)
    assert response.status_code == 201, response.data
    drain()
    run = TestRun.objects.get(pk=response.data["id"])
    assert run.status == "passed", run.error
    return run


def test_a_typed_authorization_is_sent_and_found_nowhere_else(
    team: Team,
    workflow: Workflow,
    received: list[str],
    drain: Callable[[], int],
    admin_client: Client,
) -> None:
    run = finished_run(team, drain, {"Authorization": AUTHORIZATION, "X-Plain": "visible"})

    assert received == [AUTHORIZATION]
    assert run.headers["Authorization"].startswith(SEALED)
    assert run.headers_for_engine() == {"Authorization": AUTHORIZATION, "X-Plain": "visible"}
    assert run.headers_shown() == {"Authorization": MASK, "X-Plain": "visible"}
    steps = {step.node_id: step for step in run.steps.all()}
    values: dict[str, Any] = {node: (s.input, s.output) for node, s in steps.items()}
    # The token the transform copied is masked in its output and in the next step's input.
    assert values["shape"][0]["headers"]["authorization"] == MASK
    assert values["shape"][1]["auth"] == MASK
    assert values["call"][0]["auth"] == MASK
    assert values["call"][1]["data"]["seen"] == MASK
    assert values["hook"][1]["headers"]["x-plain"] == "visible"
    assert database_leaks() == {}

    # A re-run sends the same request, and what it writes is masked the same way.
    again = send(team.bearer(team.editor), "POST", f"/api/test-runs/{run.id}/rerun")
    assert again.status_code == 201, again.data
    drain()
    assert received == [AUTHORIZATION, AUTHORIZATION]
    rerun = TestRun.objects.get(pk=again.data["id"])
    assert rerun.status == "passed", rerun.error
    assert database_leaks() == {}

    viewer, editor = team.bearer(team.viewer), team.bearer(team.editor)
    for client in (viewer, editor):
        for path in (
            f"/api/test-runs/{run.id}",
            f"/api/test-runs/{run.id}/events",
            f"/api/test-runs/{run.id}/export",
            f"/api/test-runs/{rerun.id}/export",
            team.url("/api/test-runs"),
        ):
            response = client.get(path)
            assert response.status_code == 200, path
            assert leaks(response.content.decode()) == [], path
    detail = send(viewer, "GET", f"/api/test-runs/{run.id}").data
    assert detail["parameters"]["headers"] == {"Authorization": MASK, "X-Plain": "visible"}

    pages = [f"/test-runs/{run.id}/", f"/test-runs/{run.id}/values/parameters/"]
    pages.append(f"/test-runs/compare/?run={run.id}&run={rerun.id}")
    for step in StepRun.objects.filter(run=run):
        pages.append(f"/test-runs/{run.id}/steps/{step.pk}/")
        for part in ("input", "output", "config"):
            pages.append(f"/test-runs/{run.id}/steps/{step.pk}/{part}/")
    call = steps["call"]
    pages += [f"/test-runs/{run.id}/steps/{call.pk}/{side}-1/" for side in ("request", "response")]
    for who in ("viewer", "editor"):
        for htmx in (False, True):
            client = team.client(who, htmx=htmx)
            for page in pages:
                response = client.get(page)
                assert response.status_code == 200, page
                assert leaks(response.content.decode()) == [], page
            for url in (form_url(team, run), form_url(team)):
                body = client.get(url).content.decode()
                assert leaks(body) == [], url
                assert ("Authorization", MASK) in prefill(body)[0]

    admin_pages = [
        reverse("admin:testruns_testrun_change", args=[run.id]),
        reverse("admin:testruns_testrun_changelist"),
        reverse("admin:testruns_runevent_changelist"),
    ]
    admin_pages += [reverse("admin:testruns_steprun_change", args=[pk]) for pk in steps_pks(run)]
    admin_pages += [
        reverse("admin:testruns_runevent_change", args=[pk])
        for pk in RunEvent.objects.filter(run=run).values_list("pk", flat=True)
    ]
    for page in admin_pages:
        response = admin_client.get(page)
        assert response.status_code == 200, page
        assert leaks(response.content.decode()) == [], page
    exported = admin_client.post(
        reverse("admin:testruns_testrun_changelist"),
        {"action": "export_runs", "_selected_action": [str(run.id), str(rerun.id)]},
    )
    assert exported.status_code == 200
    assert leaks(exported.content.decode()) == []


def steps_pks(run: TestRun) -> list[int]:
    return list(StepRun.objects.filter(run=run).values_list("pk", flat=True))


def test_the_live_socket_of_a_viewer_never_carries_the_credential(
    team: Team, workflow: Workflow, drain: Callable[[], int]
) -> None:
    run = finished_run(team, drain, {"Authorization": AUTHORIZATION})
    cookie = session_cookie(team.viewer)

    async def scenario() -> None:
        socket = run_socket(run, cookie)
        connected, _ = await socket.connect()
        assert connected
        await socket.send_json_to({"after": 0})
        replay = await socket.receive_from(timeout=10)
        assert 'id="run-header"' in replay
        assert leaks(replay) == []
        await socket.disconnect()

    async_to_sync(scenario)()


def test_edit_and_run_again_keeps_the_stored_credential_behind_the_mask(
    team: Team, workflow: Workflow, received: list[str], drain: Callable[[], int]
) -> None:
    run = finished_run(team, drain, {"Authorization": AUTHORIZATION, "X-Plain": "visible"})
    page = team.client("editor").get(form_url(team, run)).content.decode()
    rows, from_run = prefill(page)
    assert sorted(rows) == [("Authorization", MASK), ("X-Plain", "visible")]  # any key order
    assert from_run == str(run.id)

    response = post_form(team, rows, from_run)
    assert response.status_code == 302, response.content.decode()
    kept = TestRun.objects.order_by("-created_at").first()
    assert kept is not None
    assert kept.pk != run.pk
    assert kept.headers_for_engine() == {"Authorization": AUTHORIZATION, "X-Plain": "visible"}
    drain()
    assert received[-1] == AUTHORIZATION

    # A new value replaces the stored one.
    response = post_form(team, [("Authorization", "Bearer typed-again-789")], from_run)
    assert response.status_code == 302
    replaced = TestRun.objects.order_by("-created_at").first()
    assert replaced is not None
    assert replaced.headers_for_engine() == {"Authorization": "Bearer typed-again-789"}


def test_the_mask_without_a_stored_value_is_refused(
    team: Team, workflow: Workflow, drain: Callable[[], int]
) -> None:
    response = post_form(team, [("Authorization", MASK)], "")
    assert response.status_code == 400
    assert "has no stored value to keep" in response.content.decode()
    assert_error(api_start(team, {"X-Api-Key": MASK}), 400, "headers.X-Api-Key")
    # A run of another project of the user's is no source of stored values.
    elsewhere = make_workflow(personal_project(team.editor), chain("http://127.0.0.1:9"))
    other = make_run(elsewhere, team.editor, headers={"Authorization": "Bearer elsewhere-1"})
    response = post_form(team, [("Authorization", MASK)], str(other.id))
    assert response.status_code == 400
    assert TestRun.objects.filter(workflow=workflow).count() == 0


def test_an_api_re_run_given_the_mask_keeps_the_value_and_a_new_one_replaces_it(
    team: Team, workflow: Workflow, received: list[str], drain: Callable[[], int]
) -> None:
    run = finished_run(team, drain, {"Authorization": AUTHORIZATION})
    client = team.bearer(team.editor)
    masked = send(
        client, "POST", f"/api/test-runs/{run.id}/rerun", {"headers": {"authorization": MASK}}
    )
    assert masked.status_code == 201, masked.data
    new = send(
        client, "POST", f"/api/test-runs/{run.id}/rerun", {"headers": {"Authorization": "Bearer n"}}
    )
    assert new.status_code == 201, new.data
    drain()
    assert received == [AUTHORIZATION, AUTHORIZATION, "Bearer n"]


def test_a_run_stored_before_credentials_were_encrypted_still_sends_them(
    team: Team, workflow: Workflow, received: list[str], drain: Callable[[], int]
) -> None:
    run = finished_run(team, drain, {"Authorization": AUTHORIZATION})
    TestRun.objects.filter(pk=run.pk).update(headers={"Authorization": "Bearer legacy-value"})
    run.refresh_from_db()
    assert run.headers_for_engine() == {"Authorization": "Bearer legacy-value"}
    again = send(team.bearer(team.editor), "POST", f"/api/test-runs/{run.id}/rerun")
    assert again.status_code == 201, again.data
    drain()
    assert received[-1] == "Bearer legacy-value"
    assert TestRun.objects.get(pk=again.data["id"]).headers["Authorization"].startswith(SEALED)


def test_credential_values_cover_the_parts_a_step_may_pick_out() -> None:
    basic = base64.b64encode(b"ada:pa55word-long").decode()
    values = credential_values(
        {
            "Authorization": f"Basic {basic}",
            "Cookie": "session=abcdef123456; theme=dark",
            "X-Api-Key": "k",
            "X-Plain": "not-a-credential",
        }
    )
    assert f"Basic {basic}" in values
    assert basic in values
    assert "ada:pa55word-long" in values
    assert "pa55word-long" in values
    assert "abcdef123456" in values
    assert "dark" not in values  # too short to be masked on its own
    assert "k" in values  # the whole value always is
    assert "not-a-credential" not in values
