"""Anonymous visitors: every console page and action redirects to /login/ and changes nothing."""

from __future__ import annotations

import pytest
from django.test import Client
from rq import Queue

from meshhook.models import ApiToken, WorkflowVersion
from testruns.models import RunStatus, TestRun
from tests.factories import Team, make_run
from tests.pages.helpers import assert_login_redirect

pytestmark = pytest.mark.django_db


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
