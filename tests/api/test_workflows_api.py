"""/api/workflows, plus the plumbing every endpoint shares: authentication, CSRF, strict
JSON bodies, the error shape, and the create_api_token command."""

from __future__ import annotations

import json
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from meshhook.models import ApiToken, Workflow, WorkflowVersion, hash_token
from testruns.models import RunStatus, TestRun
from tests.api.helpers import assert_error, send
from tests.factories import Team, definition, make_run, make_token, make_user, personal_project

pytestmark = pytest.mark.django_db


def counts() -> tuple[int, int]:
    return Workflow.objects.count(), WorkflowVersion.objects.count()


# --- POST /api/workflows -----------------------------------------------------------------


def test_owner_creates_a_workflow_with_a_session(team: Team) -> None:
    response = send(
        team.session(team.owner), "POST", team.url("/api/workflows"), definition("new-flow")
    )
    assert response.status_code == 201
    assert response.data["slug"] == "new-flow"
    assert response.data["version"] == 1
    assert response.data["created"] is True
    assert response.data["project"] == team.project.slug
    assert response["Location"] == f"/api/workflows/new-flow?project={team.project.slug}"
    saved = Workflow.objects.get(project=team.project, slug="new-flow")
    assert saved.current_version().created_by == team.owner


def test_editor_creates_a_workflow_with_a_token(team: Team) -> None:
    response = send(team.bearer(team.editor), "POST", team.url("/api/workflows"), definition("b"))
    assert response.status_code == 201
    assert Workflow.objects.filter(project=team.project, slug="b").exists()


def test_viewer_cannot_create(team: Team) -> None:
    before = counts()
    response = send(team.bearer(team.viewer), "POST", team.url("/api/workflows"), definition("c"))
    assert_error(response, 403)
    assert counts() == before


def test_outsider_gets_404_for_the_project(team: Team) -> None:
    before = counts()
    response = send(team.bearer(team.outsider), "POST", team.url("/api/workflows"), definition())
    assert_error(response, 404, "project")
    assert counts() == before


def test_default_project_is_the_users_first(db: Any) -> None:
    user = make_user()
    client = Client(headers={"Authorization": f"Bearer {make_token(user)}"})
    response = send(client, "POST", "/api/workflows", definition("mine"))
    assert response.status_code == 201
    assert response.data["project"] == personal_project(user).slug


def test_existing_slug_is_409_and_nothing_is_saved(team: Team) -> None:
    before = counts()
    changed = definition(name="Changed name")
    response = send(team.bearer(team.owner), "POST", team.url("/api/workflows"), changed)
    assert_error(response, 409, "slug")
    assert "PUT /api/workflows/lead-flow" in response.data["error"]
    assert counts() == before
    assert Workflow.objects.get(pk=team.workflow.pk).name == "Lead flow"


def _mutate(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    document = definition("broken")
    change(document)
    return document


def _loop_crossing(d: dict[str, Any]) -> None:
    d["nodes"][4:4] = [
        {"id": "each", "type": "loop", "config": {"items": "body"}},
        {"id": "inner", "type": "transform", "parent": "each", "config": {"expression": "item"}},
    ]
    d["edges"] += [{"source": "notify", "target": "each"}, {"source": "inner", "target": "done"}]


INVALID: list[tuple[str, Callable[[dict[str, Any]], None], list[str]]] = [
    ("unknown type", lambda d: d["nodes"][1].update(type="email"), ["nodes[1].type"]),
    (
        "duplicate id",
        lambda d: d["nodes"][2].update(id="map"),
        ["nodes[2].id", "edges[1].target", "edges[2].source", "edges[3].source"],
    ),
    ("edge to unknown node", lambda d: d["edges"][1].update(target="nowhere"), ["edges[1].target"]),
    ("cycle", lambda d: d["edges"].append({"source": "notify", "target": "map"}), ["edges[5]"]),
    (
        "no trigger",
        lambda d: d["nodes"][0].update(type="transform", config={"expression": "a"}),
        ["nodes"],
    ),
    (
        "two triggers",
        lambda d: d["nodes"].append({"id": "hook2", "type": "webhook_trigger"}),
        ["nodes[5].type"],
    ),
    ("when on a non-branch edge", lambda d: d["edges"][0].update(when="true"), ["edges[0].when"]),
    (
        "bad JMESPath",
        lambda d: d["nodes"][1]["config"].update(expression="body.[["),
        ["nodes[1].config.expression"],
    ),
    (
        "bad template",
        lambda d: d["nodes"][3]["config"].update(template={"hot": "{{ body.[ }}"}),
        ["nodes[3].config.template.hot"],
    ),
    ("loop body edge crossing the boundary", _loop_crossing, ["edges[6]"]),
    ("schema_version", lambda d: d.update(schema_version=2), ["schema_version"]),
    ("slug", lambda d: d.update(slug="Bad Slug"), ["slug"]),
    ("on_error", lambda d: d["nodes"][1].update(on_error="ignore"), ["nodes[1].on_error"]),
    (
        "branch without condition",
        lambda d: d["nodes"][2].update(config={}),
        ["nodes[2].config.condition"],
    ),
    (
        "retry out of range",
        lambda d: d["nodes"][1].update(retry={"max_attempts": 0}),
        ["nodes[1].retry.max_attempts"],
    ),
    (
        "terminate status",
        lambda d: d["nodes"][4]["config"].update(status="meh"),
        ["nodes[4].config.status"],
    ),
    (
        "several problems at once",
        lambda d: d.update(schema_version=3, slug="", colour="red"),
        ["schema_version", "slug", "colour"],
    ),
]


@pytest.mark.parametrize(("change", "paths"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_definitions_are_rejected_with_every_path(
    team: Team, change: Callable[[dict[str, Any]], None], paths: list[str]
) -> None:
    before = counts()
    response = send(team.bearer(team.owner), "POST", team.url("/api/workflows"), _mutate(change))
    assert_error(response, 400, *paths)
    assert "invalid" in response.data["error"]
    assert counts() == before


# --- PUT /api/workflows/<slug> -------------------------------------------------------------


def test_put_stores_a_new_version_and_runs_keep_theirs(team: Team) -> None:
    run = make_run(team.workflow, team.owner)
    response = send(
        team.bearer(team.editor),
        "PUT",
        team.url("/api/workflows/lead-flow"),
        definition(description="v2"),
    )
    assert response.status_code == 200
    assert response.data["version"] == 2
    assert response.data["changed"] is True
    assert response.data["created"] is False
    run.refresh_from_db()
    assert run.workflow_version.number == 1
    again = send(
        team.bearer(team.owner),
        "PUT",
        team.url("/api/workflows/lead-flow"),
        definition(description="v2"),
    )
    assert again.status_code == 200
    assert (again.data["version"], again.data["changed"]) == (2, False)


def test_put_rejects_a_different_slug(team: Team) -> None:
    before = counts()
    response = send(
        team.bearer(team.owner), "PUT", team.url("/api/workflows/lead-flow"), definition("other")
    )
    assert_error(response, 400, "slug")
    assert counts() == before


def test_put_invalid_definition_names_the_path(team: Team) -> None:
    before = counts()
    broken = definition()
    broken["edges"][0]["when"] = "false"
    response = send(team.bearer(team.owner), "PUT", team.url("/api/workflows/lead-flow"), broken)
    assert_error(response, 400, "edges[0].when")
    assert counts() == before


def test_put_missing_workflow_is_404(team: Team) -> None:
    response = send(
        team.bearer(team.owner), "PUT", team.url("/api/workflows/nothing"), definition("nothing")
    )
    assert_error(response, 404, "slug")
    assert not Workflow.objects.filter(slug="nothing").exists()


@pytest.mark.parametrize(("who", "status"), [("viewer", 403), ("outsider", 404)])
def test_put_by_viewer_or_outsider(team: Team, who: str, status: int) -> None:
    before = counts()
    client = team.bearer(getattr(team, who))
    response = send(client, "PUT", team.url("/api/workflows/lead-flow"), definition(name="X"))
    assert_error(response, status)
    assert counts() == before


# --- GET ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "editor", "viewer"])
def test_members_read_the_latest_definition_and_stats(team: Team, who: str) -> None:
    send(
        team.bearer(team.owner),
        "PUT",
        team.url("/api/workflows/lead-flow"),
        definition(description="second"),
    )
    first = make_run(team.workflow, team.owner)
    last = make_run(team.workflow, team.owner)
    TestRun.objects.filter(pk=first.pk).update(status=RunStatus.PASSED)
    response = send(team.session(getattr(team, who)), "GET", team.url("/api/workflows/lead-flow"))
    assert response.status_code == 200
    data = response.data
    assert data["version"] == 2
    assert data["definition"]["description"] == "second"
    assert [v["number"] for v in data["versions"]] == [2, 1]
    assert data["versions"][1]["created_by"] == team.owner.username
    assert data["stats"]["runs"] == 2
    assert data["stats"]["by_status"]["passed"] == 1
    assert data["stats"]["by_status"]["queued"] == 1
    assert data["stats"]["last_run"]["id"] == str(last.id)


def test_get_unknown_workflow_and_outsider_are_404(team: Team) -> None:
    assert_error(send(team.bearer(team.owner), "GET", team.url("/api/workflows/nope")), 404, "slug")
    response = send(team.bearer(team.outsider), "GET", team.url("/api/workflows/lead-flow"))
    assert_error(response, 404, "project")
    # Without ?project the outsider looks in their own projects: still nothing to see.
    assert_error(send(team.bearer(team.outsider), "GET", "/api/workflows/lead-flow"), 404)


def test_list_workflows(team: Team) -> None:
    response = send(team.bearer(team.viewer), "GET", team.url("/api/workflows"))
    assert response.status_code == 200
    assert [w["slug"] for w in response.data["results"]] == ["lead-flow"]


# --- plumbing shared by every endpoint -------------------------------------------------------


def test_no_authentication_is_401(team: Team) -> None:
    for method, body in (("GET", None), ("POST", definition("x"))):
        response = send(Client(), method, team.url("/api/workflows"), body)
        assert_error(response, 401)
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoked_and_unknown_tokens_are_401(team: Team) -> None:
    token, raw = ApiToken.issue(team.owner, "old")
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    for header in (f"Bearer {raw}", "Bearer mh_not-a-real-token", "Basic dXNlcjpwdw==", "Bearer"):
        response = send(Client(headers={"Authorization": header}), "GET", "/api/workflows")
        assert_error(response, 401)


def test_inactive_users_token_is_401(team: Team) -> None:
    client = team.bearer(team.owner)
    team.owner.is_active = False
    team.owner.save()
    assert_error(send(client, "GET", team.url("/api/workflows")), 401)


def test_token_use_is_recorded(team: Team) -> None:
    token, raw = ApiToken.issue(team.owner, "ci")
    client = Client(headers={"Authorization": f"Bearer {raw}"})
    assert send(client, "GET", team.url("/api/workflows")).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_session_writes_need_the_csrf_token(team: Team) -> None:
    client = team.session(team.owner, enforce_csrf=True)
    before = counts()
    response = send(client, "POST", team.url("/api/workflows"), definition("csrf"))
    assert_error(response, 403, "X-CSRFToken")
    assert counts() == before
    token = "a1" * 16  # a CSRF secret as the browser's cookie would hold it
    client.cookies["csrftoken"] = token
    ok = send(
        client,
        "POST",
        team.url("/api/workflows"),
        definition("csrf"),
        headers={"X-CSRFToken": token},
    )
    assert ok.status_code == 201


def test_bearer_requests_are_csrf_exempt(team: Team) -> None:
    raw = make_token(team.owner)
    client = Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {raw}"})
    response = send(client, "POST", team.url("/api/workflows"), definition("no-csrf"))
    assert response.status_code == 201


def _raw_post(client: Client, url: str, body: bytes | str, content_type: str) -> Any:
    response: Any = client.post(url, data=body, content_type=content_type)
    response.data = json.loads(response.content)
    return response


def test_invalid_json_names_line_and_column(team: Team) -> None:
    response = _raw_post(
        team.bearer(team.owner),
        team.url("/api/workflows"),
        '{\n  "slug": "x",\n  oops\n}',
        "application/json",
    )
    assert_error(response, 400, "$")
    assert "line 3, column 3" in response.data["error"]


@pytest.mark.parametrize(
    ("body", "content_type", "path"),
    [
        ('{"a": NaN}', "application/json", "$"),
        ('{"a": 1, "a": 2}', "application/json", "$"),
        ("[1, 2]", "application/json", "$"),
        ("", "application/json", "$"),
        (b"\xff\xfe{}", "application/json", "$"),
        ("slug=x", "application/x-www-form-urlencoded", "Content-Type"),
        ("{}", "text/plain", "Content-Type"),
        ("[" * 100_000 + "]" * 100_000, "application/json", "[0]" * 64),  # where it got too deep
    ],
    ids=["nan", "duplicate-key", "not-an-object", "empty", "not-utf8", "form", "text", "deep"],
)
def test_bad_bodies_are_400(team: Team, body: Any, content_type: str, path: str) -> None:
    before = counts()
    response = _raw_post(team.bearer(team.owner), team.url("/api/workflows"), body, content_type)
    assert_error(response, 400, path)
    assert counts() == before


def test_body_over_the_limit_is_413(team: Team, settings: Any) -> None:
    settings.API_MAX_BODY_BYTES = 2048
    big = definition(description="x" * 4096)
    response = send(team.bearer(team.owner), "POST", team.url("/api/workflows"), big)
    assert_error(response, 413)


def test_wrong_method_is_405_json(team: Team) -> None:
    response = send(team.bearer(team.owner), "DELETE", team.url("/api/workflows/lead-flow"))
    assert_error(response, 405)
    assert response["Allow"] == "GET, PUT"


def test_unknown_api_url_is_404_json(team: Team) -> None:
    assert_error(send(Client(), "GET", "/api/nothing/here"), 404)
    assert_error(send(team.bearer(team.owner), "GET", "/api/workflows/"), 404)


def test_internal_errors_answer_json(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("meshhook.api.workflows.save_definition", explode)
    client = Client(
        raise_request_exception=False, headers={"Authorization": f"Bearer {make_token(team.owner)}"}
    )
    response = send(client, "POST", team.url("/api/workflows"), definition("z"))
    assert_error(response, 500)
    assert "boom" not in response.data["error"]


# --- manage.py create_api_token ---------------------------------------------------------------


def test_create_api_token_prints_a_working_token(team: Team) -> None:
    out, err = StringIO(), StringIO()
    call_command("create_api_token", team.editor.username, "--name", "ci", stdout=out, stderr=err)
    raw = out.getvalue().strip()
    token = ApiToken.objects.get(user=team.editor, name="ci")
    assert token.token_hash == hash_token(raw)
    assert raw not in (token.token_hash, token.prefix)
    client = Client(headers={"Authorization": f"Bearer {raw}"})
    assert send(client, "GET", team.url("/api/workflows")).status_code == 200


def test_create_api_token_for_unknown_user_fails(db: Any) -> None:
    with pytest.raises(CommandError, match="No user 'ghost'"):
        call_command("create_api_token", "ghost", stdout=StringIO())
