"""Changing environments in the console: owners create and edit them and set, replace and
delete secrets by name; editors and viewers read them; outsiders get 404. Secret values
never come back, and the allowlist is checked by the API's own rules."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from meshhook.models import Environment
from tests.api.helpers import send
from tests.factories import Team, personal_project
from tests.pages.helpers import assert_login_redirect, problems_in, text_of

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-value-never-shown-0451"
NEW_SECRET = "brand-new-secret-value-7781"


def new_form(team: Team, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "project": team.project.slug,
        "name": "qa",
        "kind": "test",
        "description": "QA stack",
        "variables": "CRM_URL=https://crm.qa.example.com\n# a comment\nREGION=eu",
        "allowed_hosts": "crm.qa.example.com\n*.example.org\n127.0.0.1:8025",
        "allow_private_network": "on",
        "secret_name": ["CRM_TOKEN", "", ""],
        "secret_value": [NEW_SECRET, "", ""],
    }
    data.update(changes)
    return data


def settings_form(environment: Environment, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": environment.kind,
        "description": environment.description,
        "variables": "\n".join(f"{k}={v}" for k, v in environment.variables.items()),
        "allowed_hosts": "\n".join(environment.allowed_hosts),
    }
    if environment.allow_private_network:
        data["allow_private_network"] = "on"
    data.update(changes)
    return data


def detail_url(environment: Environment) -> str:
    return f"/environments/{environment.project.slug}/{environment.name}/"


def snapshot(environment: Environment) -> dict[str, Any]:
    stored = Environment.objects.get(pk=environment.pk)
    return {
        "kind": stored.kind,
        "description": stored.description,
        "variables": stored.variables,
        "allowed_hosts": stored.allowed_hosts,
        "allow_private_network": stored.allow_private_network,
        "secrets": stored.encrypted_secrets,
    }


def assert_no_secret(response: Any, *values: str) -> None:
    body = response.content.decode()
    for value in values:
        assert value not in body
        assert value not in text_of(response)


# --- owners create and edit ---------------------------------------------------------------


def test_owner_creates_an_environment_with_hosts_variables_and_a_secret(team: Team) -> None:
    client = team.client("owner")
    page = client.get(f"/environments/new/?project={team.project.slug}")
    assert page.status_code == 200
    assert 'name="allowed_hosts"' in page.content.decode()
    assert "Private networks" in text_of(page)

    response = client.post("/environments/new/", new_form(team))
    assert response.status_code == 302
    assert response["Location"] == f"/environments/{team.project.slug}/qa/"
    environment = Environment.objects.get(project=team.project, name="qa")
    assert environment.description == "QA stack"
    assert environment.variables == {"CRM_URL": "https://crm.qa.example.com", "REGION": "eu"}
    assert environment.allowed_hosts == ["crm.qa.example.com", "*.example.org", "127.0.0.1:8025"]
    assert environment.allow_private_network is True
    assert environment.secrets_for_test_run() == {"CRM_TOKEN": NEW_SECRET}
    assert NEW_SECRET not in json.dumps(environment.encrypted_secrets)

    shown = client.get(response["Location"])
    assert shown.status_code == 200
    assert "CRM_TOKEN" in text_of(shown)
    assert "Environment 'qa' created." in text_of(shown)
    assert_no_secret(shown, NEW_SECRET, *environment.encrypted_secrets.values())
    listed = client.get("/environments/")
    assert f"/environments/{team.project.slug}/qa/" in listed.content.decode()
    assert "CRM_TOKEN" in text_of(listed)
    assert_no_secret(listed, NEW_SECRET)


def test_owner_creates_through_htmx_and_is_sent_to_the_new_page(team: Team) -> None:
    response = team.client("owner", htmx=True).post("/environments/new/", new_form(team))
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/environments/{team.project.slug}/qa/"
    assert_no_secret(response, NEW_SECRET)


def test_owner_edits_settings_and_the_secrets_stay(
    team: Team, secret_environment: Environment
) -> None:
    client = team.client("owner")
    page = client.get(detail_url(secret_environment))
    assert page.status_code == 200
    assert 'id="environment-form"' in page.content.decode()
    assert_no_secret(page, SECRET, *secret_environment.encrypted_secrets.values())

    form = settings_form(
        secret_environment,
        description="Staging, renamed",
        variables="CRM_URL=https://crm2.example.com\nTEAM=blue",
        allowed_hosts="crm2.example.com, hooks.example.net",
    )
    response = client.post(detail_url(secret_environment), form)
    assert response.status_code == 302
    assert response["Location"] == detail_url(secret_environment)
    stored = Environment.objects.get(pk=secret_environment.pk)
    assert stored.description == "Staging, renamed"
    assert stored.variables == {"CRM_URL": "https://crm2.example.com", "TEAM": "blue"}
    assert stored.allowed_hosts == ["crm2.example.com", "hooks.example.net"]
    assert stored.secrets_for_test_run() == {"CRM_TOKEN": SECRET}
    assert_no_secret(client.get(response["Location"]), SECRET)


def test_a_production_environment_becomes_a_test_one_only_without_its_secrets(
    team: Team, secret_environment: Environment
) -> None:
    production = Environment.objects.get(project=team.project, name="prod")
    client = team.client("owner")
    before = snapshot(production)
    refused = client.post(detail_url(production), settings_form(production, kind="test"))
    assert refused.status_code == 400
    assert "secrets" in [path for path, _ in problems_in(refused)]
    assert snapshot(production) == before
    accepted = client.post(
        detail_url(production), settings_form(production, kind="test", clear_secrets="on")
    )
    assert accepted.status_code == 302
    stored = Environment.objects.get(pk=production.pk)
    assert stored.kind == "test"
    assert stored.encrypted_secrets == {}


# --- secrets: set, replace, delete; never echoed ---------------------------------------------


@pytest.mark.parametrize("htmx", [False, True])
def test_owner_sets_replaces_and_deletes_secrets_never_seeing_a_value(
    team: Team, secret_environment: Environment, htmx: bool
) -> None:
    client = team.client("owner", htmx=htmx)
    url = f"{detail_url(secret_environment)}secrets/"
    responses = []

    added = client.post(url, {"intent": "set", "secret_name": "SLACK_HOOK", "secret_value": "x1"})
    responses.append(added)
    stored = Environment.objects.get(pk=secret_environment.pk)
    assert stored.secrets_for_test_run() == {"CRM_TOKEN": SECRET, "SLACK_HOOK": "x1"}

    replaced = client.post(
        url, {"intent": "set", "secret_name": "CRM_TOKEN", "secret_value": NEW_SECRET}
    )
    responses.append(replaced)
    stored = Environment.objects.get(pk=secret_environment.pk)
    assert stored.secrets_for_test_run() == {"CRM_TOKEN": NEW_SECRET, "SLACK_HOOK": "x1"}

    deleted = client.post(url, {"intent": "delete", "secret_name": "SLACK_HOOK"})
    responses.append(deleted)
    stored = Environment.objects.get(pk=secret_environment.pk)
    assert stored.secrets_for_test_run() == {"CRM_TOKEN": NEW_SECRET}

    if htmx:
        for response in responses:
            assert response.status_code == 200
            assert 'id="secrets"' in response.content.decode()
            assert "<html" not in response.content.decode()
        assert "Secret CRM_TOKEN replaced." in text_of(replaced)
        assert "Secret SLACK_HOOK deleted." in text_of(deleted)
        assert 'data-secret="SLACK_HOOK"' not in deleted.content.decode()
    else:
        assert all(response.status_code == 302 for response in responses)
    browser = team.client("owner")
    responses += [browser.get(detail_url(secret_environment)), browser.get("/environments/")]
    for response in responses:
        assert_no_secret(response, SECRET, NEW_SECRET, *stored.encrypted_secrets.values())
        body = response.content.decode()
        assert 'type="password" name="secret_value" value' not in body


def test_a_bad_secret_name_is_refused_without_echoing_the_value(
    team: Team, secret_environment: Environment
) -> None:
    before = snapshot(secret_environment)
    url = f"{detail_url(secret_environment)}secrets/"
    response = team.client("owner", htmx=True).post(
        url, {"intent": "set", "secret_name": "bad name", "secret_value": NEW_SECRET}
    )
    assert response.status_code == 400
    assert [path for path, _ in problems_in(response)] == ['secrets["bad name"]']
    assert_no_secret(response, NEW_SECRET, SECRET)
    assert snapshot(secret_environment) == before


# --- validation: the API's rules, a named field, nothing half-saved --------------------------


def test_a_bad_host_names_the_field_and_saves_nothing(
    team: Team, secret_environment: Environment
) -> None:
    before = snapshot(secret_environment)
    form = settings_form(
        secret_environment,
        description="should not be saved",
        allowed_hosts="crm.example.com\nhttps://api.example.com/path",
    )
    response = team.client("owner").post(detail_url(secret_environment), form)
    assert response.status_code == 400
    assert [path for path, _ in problems_in(response)] == ["allowed_hosts[1]"]
    assert "nothing was saved" in text_of(response)
    assert 'id="allowed_hosts-error"><div>allowed_hosts[1]:' in response.content.decode()
    # The typed text stays in the form, so it can be fixed.
    assert "https://api.example.com/path" in text_of(response)
    assert snapshot(secret_environment) == before
    assert_no_secret(response, SECRET)


def test_a_refused_new_environment_is_not_created_and_its_secrets_are_not_sent_back(
    team: Team,
) -> None:
    form = new_form(team, variables="9LIVES=x\nno equals sign")
    response = team.client("owner", htmx=True).post("/environments/new/", form)
    assert response.status_code == 400
    assert "<html" not in response.content.decode()
    paths = [path for path, _ in problems_in(response)]
    assert sorted(paths) == ["variables", 'variables["9LIVES"]']
    assert "line 2: expected NAME=value." in text_of(response)
    assert not Environment.objects.filter(project=team.project, name="qa").exists()
    assert_no_secret(response, NEW_SECRET)
    # The secret's name is kept, its value is not.
    assert 'value="CRM_TOKEN"' in response.content.decode()


@pytest.mark.parametrize(
    "entry",
    ["*.internal", "*.corp.internal", "*.localhost", "*.0.10", "*.168.192", "127.0.0.1", "[::1]"],
)
def test_private_wildcards_and_port_less_private_entries_are_refused(
    team: Team, secret_environment: Environment, entry: str
) -> None:
    before = snapshot(secret_environment)
    form = settings_form(
        secret_environment, allowed_hosts=f"crm.example.com\n{entry}", allow_private_network="on"
    )
    response = team.client("owner").post(detail_url(secret_environment), form)
    assert response.status_code == 400
    assert [path for path, _ in problems_in(response)] == ["allowed_hosts[1]"]
    assert snapshot(secret_environment) == before


@pytest.mark.parametrize(
    "hosts",
    [
        ["*.internal"],
        ["10.0.0.5"],
        ["localhost"],
        ["http://x.example.com"],
        ["x.example.com:70000"],
        ["*"],
        ["0x7f.0.0.1:80"],
        ["ok.example.com", "[::1]:8000", "*.home.arpa"],
    ],
)
def test_the_page_refuses_hosts_exactly_as_the_api_does(team: Team, hosts: list[str]) -> None:
    api = send(
        team.bearer(team.owner),
        "PUT",
        team.url("/api/environments/from-api"),
        {"allowed_hosts": hosts, "allow_private_network": True},
    )
    page = team.client("owner").post(
        "/environments/new/", new_form(team, name="from-page", allowed_hosts="\n".join(hosts))
    )
    api_problems = [(item["path"], item["message"]) for item in api.data.get("errors", [])]
    assert page.status_code == (400 if api_problems else 302)
    assert [p for p in problems_in(page) if p[0].startswith("allowed_hosts")] == api_problems


def test_a_taken_or_bad_name_is_refused(team: Team, secret_environment: Environment) -> None:
    client = team.client("owner")
    taken = client.post("/environments/new/", new_form(team, name="staging"))
    assert taken.status_code == 400
    assert [path for path, _ in problems_in(taken)] == ["name"]
    bad = client.post("/environments/new/", new_form(team, name="Not A Slug"))
    assert bad.status_code == 400
    assert [path for path, _ in problems_in(bad)] == ["name"]
    assert team.project.environments.count() == 3  # local, staging, prod


# --- who may do what ----------------------------------------------------------------------


@pytest.mark.parametrize("who", ["editor", "viewer"])
def test_editors_and_viewers_read_but_cannot_change(
    team: Team, secret_environment: Environment, who: str
) -> None:
    client = team.client(who)
    page = client.get(detail_url(secret_environment))
    assert page.status_code == 200
    body = page.content.decode()
    assert "read-only" in body
    assert "crm.example.com" in text_of(page)
    assert "CRM_TOKEN" in text_of(page)
    assert 'id="environment-form"' not in body
    assert 'name="secret_value"' not in body
    assert_no_secret(page, SECRET, *secret_environment.encrypted_secrets.values())

    before = snapshot(secret_environment)
    url = detail_url(secret_environment)
    form = settings_form(secret_environment, description="changed")
    assert client.post(url, form).status_code == 403
    set_secret = {"intent": "set", "secret_name": "X", "secret_value": "y"}
    assert client.post(f"{url}secrets/", set_secret).status_code == 403
    delete = {"intent": "delete", "secret_name": "CRM_TOKEN"}
    assert client.post(f"{url}secrets/", delete).status_code == 403
    assert client.get(f"/environments/new/?project={team.project.slug}").status_code == 403
    assert client.post("/environments/new/", new_form(team)).status_code == 403
    assert snapshot(secret_environment) == before
    assert not Environment.objects.filter(project=team.project, name="qa").exists()


def test_a_viewer_gets_a_plain_403_from_htmx(team: Team, secret_environment: Environment) -> None:
    url = f"{detail_url(secret_environment)}secrets/"
    response = team.client("viewer", htmx=True).post(url, {"intent": "delete", "secret_name": "X"})
    assert response.status_code == 403
    assert response.content.decode() == "Only the project's owners change its environments."


def test_outsiders_get_404_everywhere(team: Team, secret_environment: Environment) -> None:
    client = team.client("outsider")
    url = detail_url(secret_environment)
    before = snapshot(secret_environment)
    assert client.get(url).status_code == 404
    assert client.post(url, settings_form(secret_environment)).status_code == 404
    set_secret = {"intent": "set", "secret_name": "X", "secret_value": "y"}
    assert client.post(f"{url}secrets/", set_secret).status_code == 404
    assert client.get(f"/environments/new/?project={team.project.slug}").status_code == 404
    assert client.post("/environments/new/", new_form(team)).status_code == 404
    assert snapshot(secret_environment) == before
    # Their own project's page is theirs to change.
    own = personal_project(team.outsider).environments.get(name="local")
    assert client.get(detail_url(own)).status_code == 200


def test_anonymous_users_are_sent_to_log_in(team: Team, secret_environment: Environment) -> None:
    url = detail_url(secret_environment)
    assert_login_redirect(Client().get(url), url)
    assert_login_redirect(Client().get("/environments/new/"), "/environments/new/")


def test_posts_need_the_csrf_token(team: Team, secret_environment: Environment) -> None:
    client = team.session(team.owner, enforce_csrf=True)
    url = detail_url(secret_environment)
    before = snapshot(secret_environment)
    assert client.post(url, settings_form(secret_environment, description="x")).status_code == 403
    set_secret = {"intent": "set", "secret_name": "X", "secret_value": "y"}
    assert client.post(f"{url}secrets/", set_secret).status_code == 403
    assert snapshot(secret_environment) == before


def test_pages_with_secret_forms_are_not_cached(
    team: Team, secret_environment: Environment
) -> None:
    response = team.client("owner").get(detail_url(secret_environment))
    assert "no-store" in response["Cache-Control"]
