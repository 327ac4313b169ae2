"""meshhook.services.environments: the environment rules the API and the admin both apply."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from meshhook.engine import Problem
from meshhook.models import Environment, Project
from meshhook.services.environments import keeps_production_secrets, validate_fields


def validated(changes: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    problems: list[Problem] = []
    values = validate_fields(changes, problems)
    return values, [problem.path for problem in problems]


def test_only_the_given_fields_are_checked_and_returned() -> None:
    assert validated({}) == ({}, [])
    values, paths = validated(
        {
            "kind": "production",
            "description": "Live",
            "variables": {"CRM_URL": "https://crm.example.com"},
            "secrets": {"TOKEN": "t"},
            "allowed_hosts": ["API.example.com", "api.example.com", "*.example.org:8443"],
            "allow_private_network": False,
        }
    )
    assert paths == []
    assert values == {
        "kind": "production",
        "description": "Live",
        "variables": {"CRM_URL": "https://crm.example.com"},
        "secrets": {"TOKEN": "t"},
        "allowed_hosts": ["api.example.com", "*.example.org:8443"],  # lower-cased, once
        "allow_private_network": False,
    }


def test_every_problem_is_reported_with_its_path() -> None:
    values, paths = validated(
        {
            "kind": "live",
            "description": 7,
            "variables": {"ok": "1", "2bad": "x"},
            "secrets": [],
            "allowed_hosts": ["http://x.example.com", "fine.example.com"],
            "allow_private_network": "no",
        }
    )
    assert sorted(paths) == sorted(
        [
            "kind",
            "description",
            'variables["2bad"]',
            "secrets",
            "allowed_hosts[0]",
            "allow_private_network",
        ]
    )
    assert values == {
        "variables": {"ok": "1"},
        "secrets": {},
        "allowed_hosts": ["fine.example.com"],
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("stored_kind", "secrets", "new_kind", "replaces", "kept"),
    [
        ("production", {"LIVE": "x"}, "test", False, True),
        ("production", {"LIVE": "x"}, "test", True, False),  # replaced or cleared
        ("production", {}, "test", False, False),  # nothing to keep
        ("production", {"LIVE": "x"}, "production", False, False),
        ("test", {"T": "x"}, "test", False, False),
        ("test", {"T": "x"}, "production", False, False),
    ],
)
def test_a_production_environment_becomes_a_test_one_only_without_its_secrets(
    stored_kind: str, secrets: dict[str, str], new_kind: str, replaces: bool, kept: bool
) -> None:
    project = Project.objects.get(personal_for=User.objects.create_user("rules"))
    environment = Environment(project=project, name="prod", kind=stored_kind)
    environment.set_secrets(secrets)
    environment.save()
    assert keeps_production_secrets(environment, new_kind, replaces_secrets=replaces) is kept


def test_a_new_environment_has_nothing_to_keep() -> None:
    environment = Environment(name="prod", kind="production", encrypted_secrets={"A": "x"})
    assert keeps_production_secrets(environment, "test", replaces_secrets=False) is False
