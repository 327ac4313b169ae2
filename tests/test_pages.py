"""Console HTML pages and actions for every kind of visitor: owner, editor, viewer, outsider
(a user of another project: 404, never a hint) and anonymous (redirected to /login/)."""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rq import Queue

from meshhook.models import ApiToken, Environment, Membership, Workflow, WorkflowVersion
from testruns.models import RunStatus, StepStatus, TestRun
from tests.api.factories import (
    add_member,
    definition,
    make_run,
    make_user,
    make_workflow,
    personal_project,
)
from tests.pages_conftest_helpers import (
    ROLES,
    Team,
    assert_login_redirect,
    problems_in,
    team_fixture,  # noqa: F401  (the `team` fixture)
    text_of,
)

pytestmark = pytest.mark.django_db

MEMBERS = ROLES
EDITORS = ("owner", "editor")
RUN_ROW = re.compile(r'id="run-row-([0-9a-f-]{36})"')


def paused(run: TestRun, before: str = "map") -> TestRun:
    TestRun.objects.filter(pk=run.pk).update(status=RunStatus.PAUSED, paused_before=before)
    run.refresh_from_db()
    return run


def finished(run: TestRun, status: str = RunStatus.PASSED) -> TestRun:
    """A run as the worker leaves it: the trigger and the transform ran, the rest skipped."""
    now = timezone.now()
    TestRun.objects.filter(pk=run.pk).update(status=status, started_at=now, completed_at=now)
    for position, node_id in enumerate(["hook", "map"]):
        run.steps.filter(node_id=node_id).update(
            status=StepStatus.SUCCEEDED, position=position, output={"node": node_id}
        )
    run.steps.filter(status=StepStatus.PENDING).update(status=StepStatus.SKIPPED)
    run.refresh_from_db()
    return run


def run_ids(response: Any) -> list[str]:
    return RUN_ROW.findall(response.content.decode())


def older_runs_link(response: Any) -> str | None:
    match = re.search(r'<a class="[^"]*" href="([^"]*)">Older runs', response.content.decode())
    return html.unescape(match.group(1)) if match else None


# --- anonymous visitors ---------------------------------------------------------------------


ANONYMOUS_GETS = [
    "/workflows/",
    "/workflows/new/",
    "/workflows/lead-flow/",
    "/workflows/lead-flow/edit/",
    "/workflows/lead-flow/export/",
    "/workflows/lead-flow/test-run/",
    "/environments/",
    "/tokens/",
    "/test-runs/",
    "/test-runs/new/",
]


@pytest.mark.parametrize("path", ANONYMOUS_GETS)
def test_anonymous_get_redirects_to_login(team: Team, path: str) -> None:
    assert_login_redirect(Client().get(team.url(path)), path)


def test_anonymous_run_pages_and_posts_redirect_to_login(team: Team, run_queue: Queue) -> None:
    run = make_run(team.workflow, team.owner)
    token, _ = ApiToken.issue(team.owner, "ci")
    anonymous = Client()
    assert_login_redirect(anonymous.get(f"/test-runs/{run.id}/"), f"/test-runs/{run.id}/")
    posts = [
        f"/test-runs/{run.id}/cancel/",
        f"/test-runs/{run.id}/rerun/",
        f"/tokens/{token.id}/revoke/",
        "/tokens/",
        team.url("/workflows/new/"),
        team.url("/workflows/lead-flow/edit/"),
        team.url("/workflows/lead-flow/test-run/"),
    ]
    for path in posts:
        assert_login_redirect(anonymous.post(path, {"definition": "{}", "name": "x"}), path)
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED
    assert TestRun.objects.count() == 1
    assert WorkflowVersion.objects.count() == 1
    token.refresh_from_db()
    assert token.revoked_at is None


# --- workflow list, detail, export ---------------------------------------------------------


@pytest.mark.parametrize("who", MEMBERS)
def test_workflow_list_shows_the_project_workflows_to_members(team: Team, who: str) -> None:
    response = team.client(who).get("/workflows/")
    assert response.status_code == 200
    body = response.content.decode()
    assert f'href="/workflows/lead-flow/?project={team.project.slug}"' in body
    assert "Lead flow" in body
    assert team.project.name in body  # members of two projects see a Project column


def test_workflow_list_hides_the_project_from_outsiders(team: Team) -> None:
    mine = make_workflow(
        personal_project(team.outsider), definition("my-own-flow", name="My own flow")
    )
    response = team.client("outsider").get("/workflows/")
    assert response.status_code == 200
    body = response.content.decode()
    assert f'href="{mine.get_absolute_url()}"' in body
    assert "lead-flow" not in body
    assert "Lead flow" not in body
    assert team.project.name not in body


def test_workflow_list_shows_the_last_run(team: Team) -> None:
    run = finished(make_run(team.workflow, team.owner), RunStatus.FAILED)
    response = team.client("viewer").get("/workflows/")
    body = response.content.decode()
    assert f'href="/test-runs/{run.id}/"' in body
    assert "st-failed" in body


@pytest.mark.parametrize("who", MEMBERS)
def test_workflow_detail_for_members(team: Team, who: str) -> None:
    response = team.client(who).get(team.url("/workflows/lead-flow/"))
    assert response.status_code == 200
    body = text_of(response)
    assert "Lead flow" in body
    assert '"expression": "body"' in body  # the definition JSON
    edit_link = f'href="/workflows/lead-flow/edit/?project={team.project.slug}"'
    assert (edit_link in body) is (who in EDITORS)


def test_workflow_detail_is_404_for_outsiders_and_unknown_slugs(team: Team) -> None:
    assert team.client("outsider").get("/workflows/lead-flow/").status_code == 404
    assert team.client("outsider").get(team.url("/workflows/lead-flow/")).status_code == 404
    assert team.client("owner").get(team.url("/workflows/nope/")).status_code == 404


def test_workflow_detail_shows_the_version_asked_for(team: Team) -> None:
    changed = definition()
    changed["nodes"][1]["config"]["expression"] = "body.lead"
    make_workflow(team.project, changed, team.owner)
    client = team.client("viewer")

    latest = text_of(client.get(team.url("/workflows/lead-flow/")))
    first = text_of(client.get(team.url("/workflows/lead-flow/?version=1")))

    assert '"expression": "body.lead"' in latest
    assert "older version" not in latest
    assert '"expression": "body.lead"' not in first
    assert '"expression": "body"' in first
    assert "older version" in first
    assert client.get(team.url("/workflows/lead-flow/?version=9")).status_code == 404
    # Not a number: the latest version rather than an error.
    assert client.get(team.url("/workflows/lead-flow/?version=abc")).status_code == 200


@pytest.mark.parametrize("who", MEMBERS)
def test_export_downloads_the_definition(team: Team, who: str) -> None:
    response = team.client(who).get(team.url("/workflows/lead-flow/export/"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == 'attachment; filename="lead-flow-v1.json"'
    assert json.loads(response.content) == definition()


def test_export_of_an_older_version(team: Team) -> None:
    make_workflow(team.project, definition(name="Renamed"), team.owner)
    client = team.client("viewer")
    old = client.get(team.url("/workflows/lead-flow/export/?version=1"))
    new = client.get(team.url("/workflows/lead-flow/export/"))
    assert old["Content-Disposition"] == 'attachment; filename="lead-flow-v1.json"'
    assert json.loads(old.content)["name"] == "Lead flow"
    assert new["Content-Disposition"] == 'attachment; filename="lead-flow-v2.json"'
    assert json.loads(new.content)["name"] == "Renamed"
    assert client.get(team.url("/workflows/lead-flow/export/?version=7")).status_code == 404


def test_export_is_404_for_outsiders(team: Team) -> None:
    response = team.client("outsider").get(team.url("/workflows/lead-flow/export/"))
    assert response.status_code == 404
    assert "Content-Disposition" not in response


# --- editor access --------------------------------------------------------------------------


@pytest.mark.parametrize("who", EDITORS)
def test_edit_page_for_owners_and_editors(team: Team, who: str) -> None:
    response = team.client(who).get(team.url("/workflows/lead-flow/edit/"))
    assert response.status_code == 200
    body = text_of(response)
    assert "Edit Lead flow" in body
    assert '"slug": "lead-flow"' in body


def test_edit_page_is_403_for_viewers_and_saves_nothing(team: Team) -> None:
    client = team.client("viewer")
    page = client.get(team.url("/workflows/lead-flow/edit/"))
    post = client.post(
        team.url("/workflows/lead-flow/edit/"), {"definition": json.dumps(definition(name="X"))}
    )
    for response in (page, post):
        assert response.status_code == 403
        assert "Read-only access" in response.content.decode()
        assert team.project.name in response.content.decode()
    assert WorkflowVersion.objects.count() == 1


def test_edit_page_is_404_for_outsiders(team: Team) -> None:
    client = team.client("outsider")
    assert client.get(team.url("/workflows/lead-flow/edit/")).status_code == 404
    response = client.post(
        team.url("/workflows/lead-flow/edit/"), {"definition": json.dumps(definition(name="X"))}
    )
    assert response.status_code == 404
    assert WorkflowVersion.objects.count() == 1


@pytest.mark.parametrize("who", EDITORS)
def test_new_workflow_page_for_owners_and_editors(team: Team, who: str) -> None:
    response = team.client(who).get(team.url("/workflows/new/"))
    assert response.status_code == 200
    body = text_of(response)
    assert "New workflow" in body
    assert '"slug": "my-workflow"' in body
    assert 'name="file"' in body  # import a file


def test_new_workflow_page_is_403_for_viewers(team: Team) -> None:
    client = team.client("viewer")
    assert client.get(team.url("/workflows/new/")).status_code == 403
    response = client.post(
        team.url("/workflows/new/"), {"definition": json.dumps(definition("viewer-flow"))}
    )
    assert response.status_code == 403
    assert not Workflow.objects.filter(slug="viewer-flow").exists()


def test_new_workflow_in_someone_elses_project_is_404(team: Team) -> None:
    client = team.client("outsider")
    assert client.get(team.url("/workflows/new/")).status_code == 404
    response = client.post(
        team.url("/workflows/new/"), {"definition": json.dumps(definition("sneaky-flow"))}
    )
    assert response.status_code == 404
    assert not Workflow.objects.filter(slug="sneaky-flow").exists()


def test_new_workflow_without_a_project_goes_to_the_outsiders_own_project(team: Team) -> None:
    client = team.client("outsider")
    response = client.post("/workflows/new/", {"definition": json.dumps(definition("own-flow"))})
    assert response.status_code == 302
    assert Workflow.objects.get(slug="own-flow").project == personal_project(team.outsider)


# --- environments ----------------------------------------------------------------------------


@pytest.fixture
def secret_environment(team: Team) -> Environment:
    environment = Environment.objects.create(
        project=team.project,
        name="staging",
        kind=Environment.Kind.TEST,
        variables={"CRM_URL": "https://crm.example.com/very-visible-variable-value"},
        allowed_hosts=["crm.example.com"],
    )
    environment.set_secrets({"CRM_TOKEN": "s3cr3t-value-never-shown-0451"})
    environment.save()
    production = Environment.objects.create(
        project=team.project, name="prod", kind=Environment.Kind.PRODUCTION
    )
    production.set_secrets({"PROD_KEY": "production-secret-value-0452"})
    production.save()
    return environment


@pytest.mark.parametrize("who", MEMBERS)
def test_environments_show_secret_names_never_values(
    team: Team, who: str, secret_environment: Environment
) -> None:
    response = team.client(who).get("/environments/")
    assert response.status_code == 200
    body = text_of(response)
    assert "staging" in body
    assert "CRM_TOKEN" in body
    assert "PROD_KEY" in body
    assert "crm.example.com" in body
    assert "s3cr3t-value-never-shown-0451" not in body
    assert "production-secret-value-0452" not in body
    # Nor the encrypted form of it.
    for token in secret_environment.encrypted_secrets.values():
        assert token not in body


def test_environments_of_other_projects_are_not_listed(
    team: Team, secret_environment: Environment
) -> None:
    response = team.client("outsider").get("/environments/")
    assert response.status_code == 200
    body = text_of(response)
    assert "staging" not in body
    assert "CRM_TOKEN" not in body
    assert team.project.name not in body
    assert personal_project(team.outsider).name in body


# --- API tokens ------------------------------------------------------------------------------


@pytest.mark.parametrize("who", [*MEMBERS, "outsider"])
def test_token_page_creates_a_token_and_shows_it_once(team: Team, who: str) -> None:
    client = team.client(who)
    assert client.get("/tokens/").status_code == 200

    created = client.post("/tokens/", {"name": "CI pipeline"})

    assert created.status_code == 200
    match = re.search(r'id="new-token">(mh_[^<]+)<', created.content.decode())
    assert match
    raw = match.group(1)
    token = ApiToken.objects.get(user=team.user(who))
    assert token.name == "CI pipeline"
    assert token.token_hash != raw
    assert ApiToken.authenticate(raw) == token
    again = client.get("/tokens/").content.decode()
    assert raw not in again
    assert token.prefix in again
    assert "CI pipeline" in again


def test_token_needs_a_name(team: Team) -> None:
    response = team.client("owner").post("/tokens/", {"name": "   "}, follow=True)
    assert response.status_code == 200
    assert "Give the token a name" in text_of(response)
    assert 'id="new-token"' not in response.content.decode()
    assert not ApiToken.objects.exists()


def test_tokens_of_other_users_are_not_listed(team: Team) -> None:
    ApiToken.issue(team.owner, "owner's laptop")
    body = text_of(team.client("editor").get("/tokens/"))
    assert "owner's laptop" not in body


def test_revoke_own_token(team: Team) -> None:
    token, raw = ApiToken.issue(team.editor, "old script")
    client = team.client("editor")

    response = client.post(f"/tokens/{token.id}/revoke/")

    assert response.status_code == 302
    assert response["Location"] == "/tokens/"
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert ApiToken.authenticate(raw) is None
    page = text_of(client.get("/tokens/"))
    assert "revoked" in page
    assert "Token 'old script' revoked." in page
    # Revoking twice is harmless and keeps the first time.
    revoked_at = token.revoked_at
    assert client.post(f"/tokens/{token.id}/revoke/").status_code == 302
    token.refresh_from_db()
    assert token.revoked_at == revoked_at


@pytest.mark.parametrize("who", [*MEMBERS, "outsider"])
def test_revoking_another_users_token_is_404(team: Team, who: str) -> None:
    other = make_user()
    token, raw = ApiToken.issue(other, "theirs")
    assert team.client(who).post(f"/tokens/{token.id}/revoke/").status_code == 404
    assert team.client(who).post("/tokens/999999/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert ApiToken.authenticate(raw) == token


def test_revoke_needs_post(team: Team) -> None:
    token, _ = ApiToken.issue(team.owner, "x")
    assert team.client("owner").get(f"/tokens/{token.id}/revoke/").status_code == 405
    token.refresh_from_db()
    assert token.revoked_at is None


# --- test-run form: GET ----------------------------------------------------------------------


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


# --- test-run form: POST ---------------------------------------------------------------------


def form(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "payload": json.dumps({"score": 90, "email": "a@example.com"}),
        "environment": "local",
        "mode": "auto",
        "header_name": ["X-Source"],
        "header_value": ["console-test"],
    }
    data.update(changes)
    return data


@pytest.mark.parametrize("who", EDITORS)
def test_valid_form_starts_a_run_and_redirects_to_it(
    team: Team, who: str, run_queue: Queue
) -> None:
    response = team.client(who).post(
        team.url("/workflows/lead-flow/test-run/"),
        form(mode="step", breakpoints=["hot"], honor_delays="on"),
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
        team.url("/workflows/lead-flow/test-run/"), form()
    )
    assert response.status_code == 200
    run = TestRun.objects.get()
    assert response["HX-Redirect"] == f"/test-runs/{run.id}/"


def test_form_runs_the_version_asked_for(team: Team, run_queue: Queue) -> None:
    make_workflow(team.project, definition(name="Lead flow v2"), team.owner)
    response = team.client("owner").post(
        team.url("/workflows/lead-flow/test-run/"), form(version="1")
    )
    assert response.status_code == 302
    assert TestRun.objects.get().workflow_version.number == 1


def test_empty_payload_is_an_empty_object(team: Team, run_queue: Queue) -> None:
    response = team.client("owner").post(
        team.url("/workflows/lead-flow/test-run/"), form(payload="  ")
    )
    assert response.status_code == 302
    assert TestRun.objects.get().payload == {}


def test_viewer_post_is_400_with_a_message_and_creates_nothing(
    team: Team, run_queue: Queue
) -> None:
    for client in (team.client("viewer"), team.client("viewer", htmx=True)):
        response = client.post(team.url("/workflows/lead-flow/test-run/"), form())
        assert response.status_code == 400
        assert ("$", "Viewers cannot start test runs.") in problems_in(response)
        assert 'id="start-run"' not in response.content.decode()
    assert not TestRun.objects.exists()
    assert run_queue.count == 0


def test_outsider_post_is_404_and_creates_nothing(team: Team, run_queue: Queue) -> None:
    response = team.client("outsider").post(team.url("/workflows/lead-flow/test-run/"), form())
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
        team.url("/workflows/lead-flow/test-run/"), form(raw_headers=raw_headers)
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
        team.url("/workflows/lead-flow/test-run/"), form(**changes)
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
        team.url("/workflows/lead-flow/test-run/"), form(payload="{oops")
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
        team.url("/workflows/lead-flow/test-run/"), form(environment="prod")
    )
    assert response.status_code == 400
    assert "'prod' is a production environment" in text_of(response)
    assert not TestRun.objects.exists()


def test_every_form_problem_is_listed_at_once(team: Team) -> None:
    response = team.client("owner").post(
        team.url("/workflows/lead-flow/test-run/"),
        form(payload="nope", mocks="nope"),
    )
    assert response.status_code == 400
    assert {p for p, _ in problems_in(response)} == {"payload", "mocks"}


def test_invalid_payload_and_mocks_text_are_kept_in_the_form(team: Team) -> None:
    response = team.client("owner").post(
        team.url("/workflows/lead-flow/test-run/"),
        form(payload='{"email": "typed@example.com",', mocks='{"notify": '),
    )
    assert response.status_code == 400
    body = text_of(response)
    assert '{"email": "typed@example.com",' in body
    assert '{"notify": ' in body


# --- test-run start page and run page --------------------------------------------------------


@pytest.mark.parametrize("who", MEMBERS)
def test_start_page_lists_the_members_workflows(team: Team, who: str) -> None:
    response = team.client(who).get("/test-runs/new/")
    assert response.status_code == 200
    link = f'href="/workflows/lead-flow/test-run/?project={team.project.slug}"'
    assert link in response.content.decode()


def test_start_page_hides_other_projects(team: Team) -> None:
    response = team.client("outsider").get("/test-runs/new/")
    assert response.status_code == 200
    assert "lead-flow" not in response.content.decode()
    assert "No workflows yet" in response.content.decode()


@pytest.mark.parametrize("who", MEMBERS)
def test_run_page_for_members(team: Team, who: str, run_queue: Queue) -> None:
    run = paused(make_run(team.workflow, team.owner, payload={"email": "page@example.com"}))
    response = team.client(who).get(f"/test-runs/{run.id}/")
    assert response.status_code == 200
    body = text_of(response)
    assert str(run.id) in body
    assert "page@example.com" in body
    for node_id in ("hook", "map", "hot", "notify", "done"):
        assert node_id in body
    assert ('id="btn-next-step"' in body) is (who in EDITORS)
    assert ('id="btn-cancel"' in body) is (who in EDITORS)


def test_run_page_is_404_for_outsiders_and_unknown_ids(team: Team, run_queue: Queue) -> None:
    run = make_run(team.workflow, team.owner)
    client = team.client("outsider")
    assert client.get(f"/test-runs/{run.id}/").status_code == 404
    assert team.client("owner").get(f"/test-runs/{uuid.uuid4()}/").status_code == 404


def test_run_page_of_a_finished_run_offers_rerun_to_editors_only(
    team: Team, run_queue: Queue
) -> None:
    run = finished(make_run(team.workflow, team.owner))
    editor = team.client("editor").get(f"/test-runs/{run.id}/").content.decode()
    viewer = team.client("viewer").get(f"/test-runs/{run.id}/").content.decode()
    assert 'id="btn-rerun"' in editor
    assert 'id="btn-rerun"' not in viewer
    assert 'id="btn-cancel"' not in editor


# --- run actions -----------------------------------------------------------------------------

ACTIONS = [
    "cancel",
    "advance",
    "continue",
    "rerun",
    "rerun-from",
    "override-input",
    "toggle-breakpoint",
    "test-step",
]
ACTION_DATA = {
    "rerun-from": {"from_step": "map"},
    "override-input": {"input": '{"score": 99}'},
    "toggle-breakpoint": {"node": "hot"},
    "test-step": {"node": "map", "input": '{"body": {}}'},
}


def snapshot(run: TestRun) -> tuple[Any, ...]:
    run.refresh_from_db()
    return (run.status, run.breakpoints, run.input_overrides, TestRun.objects.count())


@pytest.mark.parametrize("action", ACTIONS)
def test_actions_are_404_for_outsiders(team: Team, action: str, run_queue: Queue) -> None:
    run = paused(make_run(team.workflow, team.owner))
    before = snapshot(run)
    response = team.client("outsider").post(
        f"/test-runs/{run.id}/{action}/", ACTION_DATA.get(action, {})
    )
    assert response.status_code == 404
    assert snapshot(run) == before


@pytest.mark.parametrize("action", ACTIONS)
def test_actions_are_403_for_viewers(team: Team, action: str, run_queue: Queue) -> None:
    run = paused(make_run(team.workflow, team.owner))
    before = snapshot(run)
    response = team.client("viewer").post(
        f"/test-runs/{run.id}/{action}/", ACTION_DATA.get(action, {})
    )
    assert response.status_code == 403
    assert "Viewers cannot control test runs." in response.content.decode()
    assert snapshot(run) == before


@pytest.mark.parametrize("action", ACTIONS)
def test_actions_need_post(team: Team, action: str, run_queue: Queue) -> None:
    run = paused(make_run(team.workflow, team.owner))
    assert team.client("owner").get(f"/test-runs/{run.id}/{action}/").status_code == 405


def test_unknown_action_and_unknown_run_are_404(team: Team, run_queue: Queue) -> None:
    run = paused(make_run(team.workflow, team.owner))
    client = team.client("owner")
    assert client.post(f"/test-runs/{run.id}/explode/").status_code == 404
    assert client.post(f"/test-runs/{uuid.uuid4()}/cancel/").status_code == 404


@pytest.mark.parametrize("who", EDITORS)
def test_cancel_then_cancel_again_is_409(team: Team, who: str, run_queue: Queue) -> None:
    run = make_run(team.workflow, team.owner)
    client = team.client(who)

    response = client.post(f"/test-runs/{run.id}/cancel/")

    assert response.status_code == 302
    assert response["Location"] == f"/test-runs/{run.id}/"
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    again = client.post(f"/test-runs/{run.id}/cancel/")
    assert again.status_code == 409
    assert "cancelled" in again.content.decode()


@pytest.mark.parametrize("who", EDITORS)
def test_advance_a_paused_run(team: Team, who: str, run_queue: Queue) -> None:
    run = paused(make_run(team.workflow, team.owner, mode="step"))
    response = team.client(who).post(f"/test-runs/{run.id}/advance/")
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    assert run.steps_to_run == 1
    assert run.release_node == "map"


@pytest.mark.parametrize("status", [RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PASSED])
def test_advancing_or_continuing_a_run_that_is_not_paused_is_409(
    team: Team, status: str, run_queue: Queue
) -> None:
    run = make_run(team.workflow, team.owner, mode="step")
    TestRun.objects.filter(pk=run.pk).update(status=status)
    client = team.client("owner")
    for action in ("advance", "continue"):
        response = client.post(f"/test-runs/{run.id}/{action}/")
        assert response.status_code == 409
        assert "not paused" in response.content.decode()
    run.refresh_from_db()
    assert run.status == status


def test_continue_until_a_node(team: Team, run_queue: Queue) -> None:
    run = paused(make_run(team.workflow, team.owner, mode="step"))
    response = team.client("editor", htmx=True).post(
        f"/test-runs/{run.id}/continue/", {"until": "notify"}
    )
    # The page is not reloaded: its socket shows the change.
    assert response.status_code == 204
    assert "HX-Redirect" not in response
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    assert run.steps_to_run is None
    # A one-off stop, not a breakpoint that would outlive this run.
    assert run.run_until == "notify"
    assert "notify" not in run.breakpoints


@pytest.mark.parametrize("who", EDITORS)
def test_rerun_redirects_to_the_new_run(team: Team, who: str, run_queue: Queue) -> None:
    run = finished(make_run(team.workflow, team.owner, payload={"n": 1}))
    response = team.client(who).post(f"/test-runs/{run.id}/rerun/")
    assert response.status_code == 302
    new = TestRun.objects.exclude(pk=run.pk).get()
    assert response["Location"] == f"/test-runs/{new.id}/"
    assert new.source_run == run
    assert new.payload == {"n": 1}
    assert new.triggered_by == team.user(who)
    assert new.source == TestRun.Source.CONSOLE
    page = team.client("viewer").get(f"/test-runs/{new.id}/")
    assert page.status_code == 200
    assert run.short_id in page.content.decode()


def test_rerun_on_the_current_version(team: Team, run_queue: Queue) -> None:
    run = finished(make_run(team.workflow, team.owner))
    make_workflow(team.project, definition(name="v2"), team.owner)
    client = team.client("owner")
    client.post(f"/test-runs/{run.id}/rerun/", {"version": "original"})
    client.post(f"/test-runs/{run.id}/rerun/", {"version": "current"})
    versions = sorted(
        TestRun.objects.exclude(pk=run.pk).values_list("workflow_version__number", flat=True)
    )
    assert versions == [1, 2]


def test_rerun_from_a_step_reuses_earlier_steps(team: Team, run_queue: Queue) -> None:
    run = finished(make_run(team.workflow, team.owner))
    response = team.client("owner").post(f"/test-runs/{run.id}/rerun-from/", {"from_step": "map"})
    assert response.status_code == 302
    new = TestRun.objects.exclude(pk=run.pk).get()
    assert new.from_step == "map"
    reused = new.steps.get(node_id="hook")
    assert reused.reused is True
    assert reused.output == {"node": "hook"}
    assert new.steps.get(node_id="map").reused is False


def test_rerun_from_a_step_that_did_not_run_is_400(team: Team, run_queue: Queue) -> None:
    run = finished(make_run(team.workflow, team.owner))
    response = team.client("owner").post(
        f"/test-runs/{run.id}/rerun-from/", {"from_step": "notify"}
    )
    assert response.status_code == 400
    assert "did not run" in response.content.decode()
    assert TestRun.objects.count() == 1


def test_pin_an_output_and_rerun(team: Team, run_queue: Queue) -> None:
    run = finished(make_run(team.workflow, team.owner))
    client = team.client("owner")
    response = client.post(f"/test-runs/{run.id}/rerun/", {"pin_step": "map"})
    assert response.status_code == 302
    new = TestRun.objects.exclude(pk=run.pk).get()
    assert new.mocks == {"map": {"node": "map"}}
    missing = client.post(f"/test-runs/{run.id}/rerun/", {"pin_step": "notify"})
    assert missing.status_code == 400
    assert TestRun.objects.count() == 2


def test_override_input_of_the_next_step(team: Team, run_queue: Queue) -> None:
    run = paused(make_run(team.workflow, team.owner, mode="step"), before="map")
    response = team.client("editor").post(
        f"/test-runs/{run.id}/override-input/", {"input": '{"body": {"score": 99}}'}
    )
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.input_overrides == {"map": {"body": {"score": 99}}}


@pytest.mark.parametrize("bad", ["", "{not json", "{'single': 'quotes'}", "[1,"])
def test_override_input_with_bad_json_is_400(team: Team, bad: str, run_queue: Queue) -> None:
    run = paused(make_run(team.workflow, team.owner, mode="step"))
    response = team.client("owner").post(f"/test-runs/{run.id}/override-input/", {"input": bad})
    assert response.status_code == 400
    run.refresh_from_db()
    assert run.input_overrides == {}


def test_override_input_when_not_paused_is_409(team: Team, run_queue: Queue) -> None:
    run = make_run(team.workflow, team.owner)
    response = team.client("owner").post(f"/test-runs/{run.id}/override-input/", {"input": "1"})
    assert response.status_code == 409
    run.refresh_from_db()
    assert run.input_overrides == {}


def test_toggle_breakpoint(team: Team, run_queue: Queue) -> None:
    run = paused(make_run(team.workflow, team.owner, mode="step"))
    client = team.client("editor")
    assert (
        client.post(f"/test-runs/{run.id}/toggle-breakpoint/", {"node": "hot"}).status_code == 302
    )
    run.refresh_from_db()
    assert run.breakpoints == ["hot"]
    assert (
        client.post(f"/test-runs/{run.id}/toggle-breakpoint/", {"node": "hot"}).status_code == 302
    )
    run.refresh_from_db()
    assert run.breakpoints == []


def test_toggle_breakpoint_on_an_unknown_node_is_400_and_on_a_finished_run_409(
    team: Team, run_queue: Queue
) -> None:
    run = paused(make_run(team.workflow, team.owner, mode="step"))
    client = team.client("owner")
    unknown = client.post(f"/test-runs/{run.id}/toggle-breakpoint/", {"node": "ghost"})
    assert unknown.status_code == 400
    assert "ghost" in unknown.content.decode()
    done = finished(run)
    response = client.post(f"/test-runs/{done.id}/toggle-breakpoint/", {"node": "hot"})
    assert response.status_code == 409
    done.refresh_from_db()
    assert done.breakpoints == []


def test_test_step_starts_a_single_step_run(team: Team, run_queue: Queue) -> None:
    run = finished(make_run(team.workflow, team.owner))
    response = team.client("editor").post(
        f"/test-runs/{run.id}/test-step/", {"node": "map", "input": '{"body": {"x": 1}}'}
    )
    assert response.status_code == 302
    single = TestRun.objects.exclude(pk=run.pk).get()
    assert response["Location"] == f"/test-runs/{single.id}/"
    assert single.only_node == "map"
    assert single.input_overrides == {"map": {"body": {"x": 1}}}
    assert list(single.steps.values_list("node_id", flat=True)) == ["map"]


@pytest.mark.parametrize(
    "data",
    [
        {"node": "map", "input": "{nope"},
        {"node": "map", "input": "[1, 2"},
        {"node": "ghost", "input": "{}"},
        {"node": "", "input": "{}"},
    ],
    ids=["bad-json", "truncated-json", "unknown-node", "no-node"],
)
def test_test_step_with_bad_input_is_400(
    team: Team, data: dict[str, str], run_queue: Queue
) -> None:
    run = finished(make_run(team.workflow, team.owner))
    response = team.client("owner").post(f"/test-runs/{run.id}/test-step/", data)
    assert response.status_code == 400
    assert TestRun.objects.count() == 1


# --- history ---------------------------------------------------------------------------------


def test_history_lists_runs_of_the_users_projects_only(team: Team, run_queue: Queue) -> None:
    ours = make_run(team.workflow, team.owner)
    outsider_workflow = make_workflow(personal_project(team.outsider), definition("secret-flow"))
    theirs = make_run(outsider_workflow, team.outsider)

    for who in MEMBERS:
        response = team.client(who).get("/test-runs/")
        assert response.status_code == 200
        assert run_ids(response) == [str(ours.id)]
        assert "secret-flow" not in response.content.decode()
    outsider = team.client("outsider").get("/test-runs/")
    assert run_ids(outsider) == [str(theirs.id)]
    assert "lead-flow" not in outsider.content.decode()
    # Filtering by the other project's workflow or user does not leak it either.
    for query in ("workflow=secret-flow", f"triggered_by={team.outsider.username}"):
        assert run_ids(team.client("owner").get(f"/test-runs/?{query}")) == []
    for query in ("workflow=lead-flow", f"triggered_by={team.owner.username}"):
        assert run_ids(team.client("outsider").get(f"/test-runs/?{query}")) == []


@pytest.fixture
def history(team: Team, run_queue: Queue) -> dict[str, TestRun]:
    """Runs that differ in one way each, to check every filter picks the right ones."""
    other = make_workflow(team.project, definition("other-flow"), team.owner)
    Environment.objects.create(project=team.project, name="staging")
    runs = {
        "plain": make_run(team.workflow, team.owner),
        "other_workflow": make_run(other, team.owner),
        "failed": finished(make_run(team.workflow, team.owner), RunStatus.FAILED),
        "staging": make_run(team.workflow, team.owner, environment="staging"),
        "by_editor": make_run(team.workflow, team.editor),
        "console": make_run(team.workflow, team.owner),
        "old": make_run(team.workflow, team.owner),
    }
    TestRun.objects.filter(pk=runs["console"].pk).update(source=TestRun.Source.CONSOLE)
    TestRun.objects.filter(pk=runs["old"].pk).update(created_at=timezone.now() - timedelta(days=30))
    for run in runs.values():
        run.refresh_from_db()
    return runs


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("workflow=other-flow", {"other_workflow"}),
        ("status=failed", {"failed"}),
        ("environment=staging", {"staging"}),
        ("triggered_by=console", {"console"}),
        ("triggered_by={editor}", {"by_editor"}),
        ("since={old_day}&until={old_day}", {"old"}),
        ("until={old_day}", {"old"}),
        ("workflow=lead-flow&status=failed", {"failed"}),
        ("workflow=other-flow&status=failed", set()),
    ],
)
def test_history_filters(
    team: Team, history: dict[str, TestRun], query: str, expected: set[str]
) -> None:
    old_day = history["old"].created_at.date().isoformat()
    query = query.format(editor=team.editor.username, old_day=old_day)
    response = team.client("viewer").get(f"/test-runs/?{query}")
    assert response.status_code == 200
    by_id = {str(run.id): name for name, run in history.items()}
    assert {by_id[run_id] for run_id in run_ids(response)} == expected
    if not expected:
        assert "No test runs match these filters" in response.content.decode()


def test_history_since_today_excludes_old_runs(team: Team, history: dict[str, TestRun]) -> None:
    today = timezone.now().date().isoformat()
    response = team.client("owner").get(f"/test-runs/?since={today}")
    listed = set(run_ids(response))
    assert str(history["old"].id) not in listed
    assert len(listed) == len(history) - 1


def test_history_htmx_returns_the_results_fragment(team: Team, history: dict[str, TestRun]) -> None:
    response = team.client("owner", htmx=True).get("/test-runs/?status=failed")
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body
    assert 'id="run-results"' in body
    assert run_ids(response) == [str(history["failed"].id)]


def test_history_pages_with_the_older_runs_link(team: Team, run_queue: Queue) -> None:
    created = [make_run(team.workflow, team.owner) for _ in range(31)]
    # Same timestamp for several runs: the id breaks the tie.
    same = timezone.now() - timedelta(hours=1)
    TestRun.objects.filter(pk__in=[run.pk for run in created[10:16]]).update(created_at=same)
    client = team.client("viewer")

    seen: list[str] = []
    url: str | None = "/test-runs/"
    pages = 0
    while url is not None:
        response = client.get(url if url.startswith("/") else f"/test-runs/{url}")
        assert response.status_code == 200
        page = run_ids(response)
        assert 0 < len(page) <= 25
        seen += page
        url = older_runs_link(response)
        pages += 1
    assert pages == 2
    assert len(seen) == len(set(seen)) == 31
    assert seen == [
        str(pk)
        for pk in TestRun.objects.order_by("-created_at", "-id").values_list("pk", flat=True)
    ]


def test_older_runs_link_keeps_the_filters(team: Team, run_queue: Queue) -> None:
    other = make_workflow(team.project, definition("other-flow"), team.owner)
    ours = [make_run(team.workflow, team.owner) for _ in range(27)]
    for _ in range(3):
        make_run(other, team.owner)
    client = team.client("owner")

    first = client.get("/test-runs/?workflow=lead-flow")
    link = older_runs_link(first)
    assert link is not None
    assert "workflow=lead-flow" in link
    second = client.get(f"/test-runs/{link}")

    listed = run_ids(first) + run_ids(second)
    assert sorted(listed) == sorted(str(run.id) for run in ours)
    assert older_runs_link(second) is None


def test_older_runs_link_encodes_filter_values(team: Team, run_queue: Queue) -> None:
    plus = make_user("ann+ci@example.com")
    add_member(team.project, plus, Membership.Role.EDITOR)
    for _ in range(26):
        make_run(team.workflow, plus)
    client = team.client("owner")

    first = client.get("/test-runs/", {"triggered_by": plus.username})
    assert len(run_ids(first)) == 25
    link = older_runs_link(first)
    assert link is not None
    second = client.get(f"/test-runs/{link}")
    assert len(run_ids(second)) == 1


@pytest.mark.parametrize(
    "cursor", ["garbage", "!!!", "AAAA", "bm90LWEtZGF0ZXxub3QtYS11dWlk", "%00", "x" * 500]
)
def test_history_with_a_garbage_cursor_shows_the_first_page(
    team: Team, cursor: str, run_queue: Queue
) -> None:
    run = make_run(team.workflow, team.owner)
    response = team.client("owner").get("/test-runs/", {"cursor": cursor})
    assert response.status_code == 200
    assert run_ids(response) == [str(run.id)]


@pytest.mark.parametrize("query", ["since=yesterday", "until=2024-13-45", "since=%00"])
def test_history_with_a_garbage_date_does_not_500(team: Team, query: str) -> None:
    response = team.client("owner").get(f"/test-runs/?{query}")
    assert response.status_code in (200, 400)


# --- a run driven by the worker, through the pages -------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_step_mode_run_from_the_form_through_the_worker(
    team: Team, run_queue: Queue, drain: Callable[[], int]
) -> None:
    client = team.client("editor")
    response = client.post(
        team.url("/workflows/lead-flow/test-run/"),
        form(mode="step", payload=json.dumps({"score": 95})),
    )
    assert response.status_code == 302
    run = TestRun.objects.get()
    assert run_queue.count == 1
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.PAUSED
    assert run.paused_before == "hook"

    assert client.post(f"/test-runs/{run.id}/advance/").status_code == 302
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.PAUSED
    assert run.paused_before == "map"
    assert run.steps.get(node_id="hook").status == StepStatus.SUCCEEDED

    assert client.post(f"/test-runs/{run.id}/continue/").status_code == 302
    drain()
    run.refresh_from_db()
    assert run.status == RunStatus.PASSED
    page = team.client("viewer").get(f"/test-runs/{run.id}/")
    assert page.status_code == 200
    assert "passed" in page.content.decode()
    assert client.post(f"/test-runs/{run.id}/advance/").status_code == 409


# --- a user in two projects that both have a workflow "lead-flow" ---------------------------


@pytest.fixture
def twin(team: Team) -> Workflow:
    """The owner's personal project has a workflow with the same slug as the team's."""
    return make_workflow(
        personal_project(team.owner), definition(name="Personal lead flow"), team.owner
    )


def test_testrun_form_posts_to_the_workflow_it_shows(
    team: Team, twin: Workflow, run_queue: Queue
) -> None:
    client = team.client("owner")
    for workflow in (team.workflow, twin):
        url = f"/workflows/lead-flow/test-run/?project={workflow.project.slug}"
        body = client.get(url).content.decode()
        match = re.search(r'<form id="testrun-form" method="post" action="([^"]*)"', body)
        assert match
        response = client.post(html.unescape(match.group(1)), form())
        assert response.status_code == 302
        run = TestRun.objects.order_by("-created_at").first()
        assert run is not None
        assert run.workflow == workflow


def test_workflow_list_links_to_each_of_two_same_slug_workflows(team: Team, twin: Workflow) -> None:
    client = team.client("owner")
    body = client.get("/workflows/").content.decode()
    links = set(re.findall(r'<a class="cell-title" href="([^"]*)"', body))
    assert len(links) == 2
    shows_twin = {
        "Personal lead flow" in text_of(client.get(html.unescape(link))) for link in links
    }
    assert shows_twin == {False, True}  # each link opens a different one of the two


def test_new_workflow_link_works_for_a_team_viewer(team: Team) -> None:
    response = team.client("viewer").get("/workflows/new/")
    assert response.status_code == 200


# --- input that Python's json would accept but the database or the engine would not -------


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
        team.url("/workflows/lead-flow/test-run/"), form(payload=payload)
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
        team.url("/workflows/looped/test-run/"), form(breakpoints=["inner"])
    )
    assert response.status_code == 400
    assert "breakpoints[0]" in text_of(response)
    assert "break on the loop" in text_of(response)


def test_api_breakpoints_that_are_not_node_ids_are_a_400(team: Team, run_queue: Queue) -> None:
    response = team.client("owner").post(
        "/api/test-runs",
        json.dumps({"workflow": "lead-flow", "project": team.project.slug,
                    "breakpoints": [{"x": 1}]}),
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "breakpoints[0]"


def test_input_override_for_a_step_the_run_has_moved_past_is_a_409(
    team: Team, run_queue: Queue
) -> None:
    run = paused(make_run(team.workflow, team.owner, mode="step"), before="hot")
    response = team.client("owner").post(
        f"/test-runs/{run.id}/override-input/", {"node": "map", "input": '{"a": 1}'}
    )
    assert response.status_code == 409
    run.refresh_from_db()
    assert run.input_overrides == {}
