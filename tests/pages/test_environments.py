"""The environments page (/environments/): secret names, never their values; only the
user's own projects."""

from __future__ import annotations

import pytest

from meshhook.models import Environment
from tests.factories import MEMBERS, Team, personal_project
from tests.pages.helpers import text_of

pytestmark = pytest.mark.django_db


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
