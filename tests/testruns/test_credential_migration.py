"""Migration 0008 encrypts credential headers stored in clear before they were encrypted at
rest, in runs and test cases, and leaves everything else (and encrypted values) alone."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from testruns.models import TestRun
from testruns.testcase_models import TestCase
from tests.factories import make_user, make_workflow, personal_project, start_run

pytestmark = pytest.mark.django_db

migration = importlib.import_module("testruns.migrations.0008_encrypt_stored_credentials")


def test_clear_credentials_are_encrypted_once_and_the_rest_kept() -> None:
    user = make_user()
    workflow = make_workflow(personal_project(user))
    old_run = start_run(workflow, user)
    new_run = start_run(workflow, user, headers={"Authorization": "Bearer fresh-2"})
    sealed_before = TestRun.objects.get(pk=new_run.pk).headers["Authorization"]
    clear = {"Authorization": "Bearer old-canary-1", "X-Form": "pricing"}
    TestRun.objects.filter(pk=old_run.pk).update(headers=clear)  # as stored before
    case = TestCase.objects.create(
        workflow=workflow, name="old case", headers={"Cookie": "s=old-2"}
    )

    migration.encrypt_stored_credentials(apps, None)
    migration.encrypt_stored_credentials(apps, None)  # a second time changes nothing more

    old_run.refresh_from_db()
    assert "old-canary-1" not in str(old_run.headers)
    assert old_run.headers["X-Form"] == "pricing"
    assert old_run.headers_for_engine() == clear
    assert TestRun.objects.get(pk=new_run.pk).headers["Authorization"] == sealed_before
    case.refresh_from_db()
    assert "old-2" not in str(case.headers)
    assert case.headers_for_engine() == {"Cookie": "s=old-2"}
