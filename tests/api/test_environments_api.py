"""/api/environments: secrets go in, only their names come out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from meshhook.models import Environment
from tests.api.helpers import assert_error, send
from tests.factories import Team

pytestmark = pytest.mark.django_db

STAGING = {
    "kind": "test",
    "description": "Shared staging",
    "variables": {"CRM_URL": "https://crm.staging.example.com"},
    "secrets": {"CRM_TOKEN": "s3cr3t-value", "SLACK_HOOK": "hook-value"},
    "allowed_hosts": ["crm.staging.example.com", "*.example.org", "127.0.0.1:8025"],
    "allow_private_network": False,
}


def put(team: Team, who: str, name: str, body: Any) -> Any:
    return send(team.bearer(getattr(team, who)), "PUT", team.url(f"/api/environments/{name}"), body)


def test_put_creates_and_never_returns_secret_values(team: Team) -> None:
    response = put(team, "owner", "staging", STAGING)
    assert response.status_code == 200
    assert response.data["created"] is True
    assert response.data["secrets"] == ["CRM_TOKEN", "SLACK_HOOK"]
    assert response.data["allowed_hosts"] == STAGING["allowed_hosts"]
    assert "s3cr3t-value" not in response.content.decode()
    stored = Environment.objects.get(project=team.project, name="staging")
    assert "s3cr3t-value" not in json.dumps(stored.encrypted_secrets)  # encrypted at rest
    assert stored.secrets_for_test_run() == STAGING["secrets"]


def test_put_without_secrets_keeps_them_and_other_fields_merge(team: Team) -> None:
    put(team, "owner", "staging", STAGING)
    response = put(team, "owner", "staging", {"allowed_hosts": ["api.example.com"]})
    assert response.status_code == 200
    assert response.data["created"] is False
    assert response.data["secrets"] == ["CRM_TOKEN", "SLACK_HOOK"]
    assert response.data["variables"] == STAGING["variables"]
    assert response.data["allowed_hosts"] == ["api.example.com"]
    replaced = put(team, "owner", "staging", {"secrets": {"ONLY": "one"}})
    assert replaced.data["secrets"] == ["ONLY"]
    stored = Environment.objects.get(project=team.project, name="staging")
    assert stored.secrets_for_test_run() == {"ONLY": "one"}


def test_production_secrets_are_not_carried_into_a_test_environment(team: Team) -> None:
    put(team, "owner", "prod", {**STAGING, "kind": "production"})
    response = put(team, "owner", "prod", {"kind": "test"})
    assert_error(response, 400, "secrets")
    assert Environment.objects.get(project=team.project, name="prod").kind == "production"
    assert put(team, "owner", "prod", {"kind": "test", "secrets": {}}).status_code == 200


@pytest.mark.parametrize("who", ["owner", "editor", "viewer"])
def test_members_read_one_and_all_with_names_only(team: Team, who: str) -> None:
    put(team, "owner", "staging", STAGING)
    client = team.session(getattr(team, who))
    one = send(client, "GET", team.url("/api/environments/staging"))
    assert one.status_code == 200
    assert one.data["secrets"] == ["CRM_TOKEN", "SLACK_HOOK"]
    assert one.data["kind"] == "test"
    every = send(client, "GET", team.url("/api/environments"))
    assert [env["name"] for env in every.data["results"]] == ["local", "staging"]
    assert "s3cr3t-value" not in one.content.decode() + every.content.decode()


def test_viewer_cannot_write(team: Team) -> None:
    assert_error(put(team, "viewer", "staging", STAGING), 403)
    assert not Environment.objects.filter(name="staging").exists()


def test_outsider_gets_404(team: Team) -> None:
    put(team, "owner", "staging", STAGING)
    assert_error(put(team, "outsider", "staging", {"kind": "test"}), 404, "project")
    for url in ("/api/environments/staging", "/api/environments"):
        response = send(team.bearer(team.outsider), "GET", team.url(url))
        assert_error(response, 404, "project")


def test_unknown_environment_is_404(team: Team) -> None:
    response = send(team.bearer(team.owner), "GET", team.url("/api/environments/nope"))
    assert_error(response, 404, "name")


def test_unauthenticated_is_401(team: Team) -> None:
    from django.test import Client

    assert_error(send(Client(), "GET", team.url("/api/environments")), 401)
    assert_error(send(Client(), "PUT", team.url("/api/environments/x"), STAGING), 401)


@pytest.mark.parametrize(
    ("body", "paths"),
    [
        ({"kind": "prod"}, ["kind"]),
        ({"variables": ["A"]}, ["variables"]),
        ({"variables": {"1BAD": "x", "ok": 5}}, ['variables["1BAD"]', "variables.ok"]),
        ({"secrets": {"A B": "x"}}, ['secrets["A B"]']),
        ({"secrets": {"TOKEN": None}}, ["secrets.TOKEN"]),
        ({"allowed_hosts": "example.com"}, ["allowed_hosts"]),
        (
            {"allowed_hosts": ["https://x.com/path", "ok.example.com", "h:99999", 7, "*", "[zz]"]},
            [
                "allowed_hosts[0]",
                "allowed_hosts[2]",
                "allowed_hosts[3]",
                "allowed_hosts[4]",
                "allowed_hosts[5]",
            ],
        ),
        ({"allow_private_network": "yes"}, ["allow_private_network"]),
        ({"description": "x" * 201}, ["description"]),
        ({"colour": "red", "kinds": "test"}, ["colour", "kinds"]),
    ],
)
def test_invalid_environment_is_400_with_paths(team: Team, body: Any, paths: list[str]) -> None:
    assert_error(put(team, "owner", "staging", body), 400, *paths)
    assert not Environment.objects.filter(name="staging").exists()


def test_bad_name_is_400(team: Team) -> None:
    assert_error(put(team, "owner", "Bad_Name", STAGING), 400, "name")


def test_body_must_be_an_object(team: Team) -> None:
    assert_error(put(team, "owner", "staging", ["kind"]), 400, "$")


@pytest.mark.parametrize("who", ["editor", "viewer"])
def test_only_owners_change_environments(team: Team, who: str) -> None:
    response = put(team, who, "staging", STAGING)
    assert_error(response, 403, "$")
    assert not Environment.objects.filter(project=team.project, name="staging").exists()
