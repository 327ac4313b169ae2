"""Test cases and suites in the Django admin: listed and shown; cases can be deleted,
suites (history) cannot."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from testruns.suites import start_suite
from tests.factories import Team
from tests.testcases.helpers import make_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("boss", "boss@example.com", "x"))
    return client


def test_test_cases_and_suites_in_the_admin(
    team: Team, admin_client_: Client, django_capture_on_commit_callbacks: Any
) -> None:
    case = make_case(team.workflow, team.owner, assertions=[
        {"target": "run.status", "op": "equals", "expected": "passed"}])  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        suite = start_suite(team.project, user=team.owner, source="api")

    pages = [
        "/admin/testruns/testcase/",
        f"/admin/testruns/testcase/{case.pk}/change/",
        "/admin/testruns/testsuiterun/",
        f"/admin/testruns/testsuiterun/{suite.pk}/change/",
    ]
    for page in pages:
        response = admin_client_.get(page)
        assert response.status_code == 200, page
        assert case.name in response.content.decode() or "suite" in page
    assert admin_client_.get(f"/admin/testruns/testcase/{case.pk}/delete/").status_code == 200
    denied = admin_client_.get(f"/admin/testruns/testsuiterun/{suite.pk}/delete/")
    assert denied.status_code == 403
