"""The admin's run pages link to the run in the console: each row of the changelist and
the change page."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from testruns.models import TestRun
from tests.factories import make_user, make_workflow, personal_project, start_run

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("run_queue")]

CONSOLE_LINK = re.compile(r'<a href="(/test-runs/[0-9a-f-]{36}/)">View in console</a>')


@pytest.fixture
def runs() -> list[TestRun]:
    user: User = make_user()
    workflow = make_workflow(personal_project(user))
    return [start_run(workflow, user) for _ in range(3)]


def test_every_changelist_row_links_to_the_console(
    admin_client: Client, runs: list[TestRun]
) -> None:
    response = admin_client.get(reverse("admin:testruns_testrun_changelist"))
    assert response.status_code == 200
    links = CONSOLE_LINK.findall(response.content.decode())
    assert sorted(links) == sorted(f"/test-runs/{run.id}/" for run in runs)


def test_the_change_page_links_to_the_console(admin_client: Client, runs: list[TestRun]) -> None:
    run = runs[0]
    response = admin_client.get(reverse("admin:testruns_testrun_change", args=[run.pk]))
    assert response.status_code == 200
    assert CONSOLE_LINK.findall(response.content.decode()) == [f"/test-runs/{run.id}/"]


def test_the_console_link_opens_the_run_for_a_member(runs: list[TestRun]) -> None:
    run = runs[0]
    assert run.triggered_by is not None
    client = Client()
    client.force_login(run.triggered_by)
    assert client.get(f"/test-runs/{run.id}/").status_code == 200
