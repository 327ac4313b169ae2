"""Django admin: every page renders, definitions go through the engine, history stays
read-only, the run actions work, and the run list does not count the whole table."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection, models
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from meshhook.models import ApiToken, Environment, Membership, Project, Workflow, WorkflowVersion
from testruns.models import RunEvent, RunStatus, StepRun, TestRun
from tests.factories import definition, make_user, make_workflow, personal_project, start_run

# Starting a run enqueues a job on the real Redis: `run_queue` leaves no job behind.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("run_queue")]


@pytest.fixture
def user() -> User:
    return make_user()


@pytest.fixture
def workflow(user: User) -> Workflow:
    return make_workflow(personal_project(user))


@pytest.fixture
def run(workflow: Workflow, user: User) -> TestRun:
    return start_run(workflow, user)


def admin_url(model: type[Any], view: str, *args: Any) -> str:
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


def post_action(client: Client, model: type[Any], action: str, ids: list[Any]) -> Any:
    return client.post(
        admin_url(model, "changelist"),
        {"action": action, "_selected_action": [str(pk) for pk in ids]},
    )


def post_definition(client: Client, workflow: Workflow, text: str) -> Any:
    """Submit the workflow change form as a browser would: with the version inline's hidden
    management fields, and `text` as the new definition."""
    url = admin_url(Workflow, "change", workflow.pk)
    page = client.get(url).content.decode()
    hidden = dict(re.findall(r'<input type="hidden" name="(versions-[^"]+)" value="([^"]*)"', page))
    assert "versions-TOTAL_FORMS" in hidden
    return client.post(url, {**hidden, "new_definition": text})


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- every page renders -----------------------------------------------------------------


def test_every_changelist_and_change_page_renders(
    admin_client: Client, user: User, run: TestRun
) -> None:
    project = personal_project(user)
    ApiToken.issue(user, "ci")
    step, event = run.steps.first(), run.events.first()
    assert step is not None
    assert event is not None
    objects: list[models.Model] = [
        project,
        Membership.objects.get(project=project, user=user),
        ApiToken.objects.get(user=user),
        project.environments.get(name="local"),
        run.workflow,
        run.workflow_version,
        run,
        step,
        event,
    ]
    for obj in objects:
        model = type(obj)
        assert admin_client.get(admin_url(model, "changelist")).status_code == 200, model
        assert admin_client.get(admin_url(model, "change", obj.pk)).status_code == 200, model
    for model in (Project, Membership, Environment, Workflow):
        assert admin_client.get(admin_url(model, "add")).status_code == 200, model
    assert admin_client.get(reverse("admin:index")).status_code == 200
    # The workflow add form picks its project through autocomplete.
    autocomplete = admin_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "meshhook", "model_name": "workflow", "field_name": "project"},
    )
    assert autocomplete.status_code == 200
    assert str(project.pk) in [item["id"] for item in autocomplete.json()["results"]]


def test_run_change_page_shows_steps_and_the_event_log(admin_client: Client, run: TestRun) -> None:
    page = admin_client.get(admin_url(TestRun, "change", run.pk)).content.decode()
    assert "run_queued" in page
    assert "Test run queued: Lead flow v1 on local." in page
    for node_id in ("hook", "map", "done"):
        assert node_id in page


def test_event_log_is_rendered_from_its_template_escaped(
    admin_client: Client, run: TestRun
) -> None:
    RunEvent.objects.create(
        run=run, seq=2, type="log", node_id="map", level="warning", message="<b>bold</b> & co"
    )
    TestRun.objects.filter(pk=run.pk).update(last_seq=2)
    response = admin_client.get(admin_url(TestRun, "change", run.pk))
    assert "admin/testruns/event_log.html" in [template.name for template in response.templates]
    page = response.content.decode()
    log = page[page.index("<th>seq</th>") : page.index("</table>", page.index("<th>seq</th>"))]
    rows = re.findall(r"<tr>(.*?)</tr>", log, re.S)
    cells = [re.findall(r"<td>(.*?)</td>", row, re.S) for row in rows]
    assert [row[0] for row in cells] == ["1", "2"]
    assert cells[1][2:] == ["warning", "log", "map", "&lt;b&gt;bold&lt;/b&gt; &amp; co"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", cells[1][1])
    assert "Showing the first" not in page


def test_long_event_logs_are_cut_with_a_note(
    admin_client: Client, run: TestRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("testruns.admin.EVENT_LIMIT", 1)
    post_action(admin_client, TestRun, "cancel_runs", [run.pk])  # appends run_finished
    page = admin_client.get(admin_url(TestRun, "change", run.pk)).content.decode()
    assert "Showing the first 1 of 2 events" in page
    assert "run_queued" in page
    assert "run_finished" not in page


# --- secrets and tokens -----------------------------------------------------------------


def test_environment_pages_show_secret_names_never_values(admin_client: Client, user: User) -> None:
    environment = personal_project(user).environments.get(name="local")
    environment.set_secrets({"CRM_TOKEN": "very-secret-value"})
    environment.save()
    page = admin_client.get(admin_url(Environment, "change", environment.pk)).content.decode()
    assert "CRM_TOKEN" in page
    assert "very-secret-value" not in page
    assert environment.encrypted_secrets["CRM_TOKEN"] not in page


def test_production_environment_turns_test_only_without_its_secrets(
    admin_client: Client, user: User
) -> None:
    environment = Environment.objects.create(
        project=personal_project(user), name="prod", kind=Environment.Kind.PRODUCTION
    )
    environment.set_secrets({"LIVE_KEY": "live"})
    environment.save()
    form = {
        "project": environment.project_id,
        "name": "prod",
        "kind": "test",
        "description": "",
        "variables": "{}",
        "allowed_hosts": "[]",
    }
    url = admin_url(Environment, "change", environment.pk)
    response = admin_client.post(url, form)
    assert response.status_code == 200
    assert "without its secrets" in response.content.decode()
    environment.refresh_from_db()
    assert environment.kind == "production"

    response = admin_client.post(url, {**form, "clear_secrets": "on"})
    assert response.status_code == 302
    environment.refresh_from_db()
    assert (environment.kind, environment.encrypted_secrets) == ("test", {})


def test_emptied_environment_maps_are_stored_empty(admin_client: Client, user: User) -> None:
    environment = personal_project(user).environments.get(name="local")
    response = admin_client.post(
        admin_url(Environment, "change", environment.pk),
        {
            "project": environment.project_id,
            "name": "local",
            "kind": "test",
            "variables": "",
            "allowed_hosts": "",
        },
    )
    assert response.status_code == 302
    environment.refresh_from_db()
    assert (environment.variables, environment.allowed_hosts) == ({}, [])


def test_environment_form_rejects_bad_hosts(admin_client: Client, user: User) -> None:
    environment = personal_project(user).environments.get(name="local")
    response = admin_client.post(
        admin_url(Environment, "change", environment.pk),
        {
            "project": environment.project_id,
            "name": "local",
            "kind": "test",
            "variables": "{}",
            "allowed_hosts": '["https://x.example.com/path"]',
        },
    )
    assert response.status_code == 200
    assert "allowed_hosts[0]" in response.content.decode()


def test_tokens_cannot_be_added_and_their_hash_is_never_shown(
    admin_client: Client, user: User
) -> None:
    token, _raw = ApiToken.issue(user, "ci")
    assert admin_client.get(admin_url(ApiToken, "add")).status_code == 403
    assert admin_client.post(admin_url(ApiToken, "add"), {"name": "x"}).status_code == 403
    for url in (admin_url(ApiToken, "changelist"), admin_url(ApiToken, "change", token.pk)):
        assert token.token_hash not in admin_client.get(url).content.decode()
    assert ApiToken.objects.count() == 1


def test_revoke_action_revokes_only_active_tokens(admin_client: Client, user: User) -> None:
    active, _ = ApiToken.issue(user, "active")
    revoked, _ = ApiToken.issue(user, "old")
    ApiToken.objects.filter(pk=revoked.pk).update(revoked_at="2020-01-01T00:00:00Z")
    response = post_action(admin_client, ApiToken, "revoke_tokens", [active.pk, revoked.pk])
    assert response.status_code == 302
    active.refresh_from_db()
    revoked.refresh_from_db()
    assert active.revoked_at is not None
    assert revoked.revoked_at is not None
    assert revoked.revoked_at.year == 2020


# --- workflow definitions go through the engine -------------------------------------------


def test_invalid_definition_shows_every_path_and_saves_nothing(
    admin_client: Client, workflow: Workflow
) -> None:
    bad = definition(edges=[{"source": "hook", "target": "nowhere"}], nodes=[{"id": "hook"}])
    response = post_definition(admin_client, workflow, json.dumps(bad))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["new_definition"]
    assert any(error.startswith("edges[0].target: ") for error in errors), errors
    assert any(error.startswith("nodes[0]") for error in errors), errors
    assert WorkflowVersion.objects.filter(workflow=workflow).count() == 1
    workflow.refresh_from_db()
    assert workflow.latest_version == 1


def test_text_that_is_not_json_is_a_form_error(admin_client: Client, workflow: Workflow) -> None:
    response = post_definition(admin_client, workflow, "{nope")
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["new_definition"]
    assert errors[0].startswith("$: Not valid JSON")


def test_valid_definition_becomes_the_next_version(
    admin_client: Client, workflow: Workflow
) -> None:
    changed = definition(name="Lead flow, renamed")
    response = post_definition(admin_client, workflow, json.dumps(changed))
    assert response.status_code == 302
    workflow.refresh_from_db()
    assert (workflow.latest_version, workflow.name) == (2, "Lead flow, renamed")
    version = workflow.current_version()
    assert version.definition == changed
    assert version.created_by is not None
    assert version.created_by.is_superuser
    # The workflow page's "All versions" link lists exactly this workflow's versions.
    make_workflow(workflow.project, definition("other-flow"))
    listed = admin_client.get(
        admin_url(WorkflowVersion, "changelist"), {"workflow__id__exact": workflow.pk}
    )
    assert sorted(v.number for v in listed.context["cl"].result_list) == [1, 2]


def test_unchanged_definition_adds_no_version(admin_client: Client, workflow: Workflow) -> None:
    response = post_definition(admin_client, workflow, json.dumps(definition()))
    assert response.status_code == 302
    assert workflow.versions.count() == 1


def test_definition_with_another_slug_is_refused(admin_client: Client, workflow: Workflow) -> None:
    response = post_definition(admin_client, workflow, json.dumps(definition("other-flow")))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["new_definition"][0].startswith("slug: ")
    assert not Workflow.objects.filter(slug="other-flow").exists()
    assert workflow.versions.count() == 1


def test_adding_a_workflow_validates_with_the_engine(admin_client: Client, user: User) -> None:
    project = personal_project(user)
    bad = definition("new-flow", nodes=[{"id": "hook", "type": "no_such_type"}], edges=[])
    response = admin_client.post(
        admin_url(Workflow, "add"), {"project": project.pk, "new_definition": json.dumps(bad)}
    )
    assert response.status_code == 200
    assert "nodes[0].type" in " ".join(response.context["adminform"].form.errors["new_definition"])
    assert not Workflow.objects.exists()
    assert not WorkflowVersion.objects.exists()

    response = admin_client.post(
        admin_url(Workflow, "add"),
        {"project": project.pk, "new_definition": json.dumps(definition("new-flow"))},
    )
    assert response.status_code == 302
    created = Workflow.objects.get(project=project, slug="new-flow")
    assert created.latest_version == 1
    assert response["Location"] == admin_url(Workflow, "changelist")


def test_adding_an_existing_slug_is_refused(admin_client: Client, workflow: Workflow) -> None:
    response = admin_client.post(
        admin_url(Workflow, "add"),
        {"project": workflow.project_id, "new_definition": json.dumps(definition())},
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert workflow.versions.count() == 1


def test_workflow_versions_are_read_only(admin_client: Client, workflow: Workflow) -> None:
    version = workflow.current_version()
    assert admin_client.get(admin_url(WorkflowVersion, "add")).status_code == 403
    assert admin_client.get(admin_url(WorkflowVersion, "delete", version.pk)).status_code == 403
    admin_client.post(admin_url(WorkflowVersion, "change", version.pk), {"number": 9})
    version.refresh_from_db()
    assert version.number == 1


# --- run history is read-only -------------------------------------------------------------


def test_runs_cannot_be_added_changed_or_deleted(admin_client: Client, run: TestRun) -> None:
    assert admin_client.get(admin_url(TestRun, "add")).status_code == 403
    response = admin_client.post(
        admin_url(TestRun, "change", run.pk), {"status": "passed", "error": "edited"}
    )
    assert response.status_code == 403
    assert admin_client.get(admin_url(TestRun, "delete", run.pk)).status_code == 403
    page = admin_client.get(admin_url(TestRun, "change", run.pk))
    assert page.context["has_change_permission"] is False
    assert 'name="_save"' not in page.content.decode()
    run.refresh_from_db()
    assert (run.status, run.error) == (RunStatus.QUEUED, "")
    step = run.steps.first()
    assert step is not None
    assert admin_client.post(admin_url(StepRun, "change", step.pk), {}).status_code == 403
    event = run.events.first()
    assert event is not None
    assert admin_client.post(admin_url(RunEvent, "change", event.pk), {}).status_code == 403
    assert TestRun.objects.filter(pk=run.pk).exists()


# --- run actions --------------------------------------------------------------------------


def test_cancel_action_cancels_active_runs_and_skips_finished_ones(
    admin_client: Client, workflow: Workflow, user: User
) -> None:
    active, finished = start_run(workflow, user), start_run(workflow, user)
    TestRun.objects.filter(pk=finished.pk).update(status=RunStatus.PASSED)
    response = post_action(admin_client, TestRun, "cancel_runs", [active.pk, finished.pk])
    assert response.status_code == 302
    active.refresh_from_db()
    finished.refresh_from_db()
    assert active.status == RunStatus.CANCELLED
    assert finished.status == RunStatus.PASSED
    assert finished.completed_at is None
    page = admin_client.get(response["Location"])
    assert "Cancelled 1 run(s). Skipped 1 that had already finished." in messages_of(page)


def test_rerun_action_starts_a_linked_console_run(admin_client: Client, run: TestRun) -> None:
    response = post_action(admin_client, TestRun, "rerun_runs", [run.pk])
    assert response.status_code == 302
    new = TestRun.objects.get(source_run=run)
    assert new.source == TestRun.Source.CONSOLE
    assert new.payload == run.payload
    assert new.triggered_by is not None
    assert new.triggered_by.is_superuser


def test_rerun_action_reports_a_run_it_cannot_repeat(admin_client: Client, run: TestRun) -> None:
    assert run.environment_id is not None
    Environment.objects.filter(pk=run.environment_id).delete()
    response = post_action(admin_client, TestRun, "rerun_runs", [run.pk])
    page = admin_client.get(response["Location"])
    assert any(m.startswith(f"Could not re-run {run.short_id}: ") for m in messages_of(page))
    assert not TestRun.objects.filter(source_run=run).exists()


def test_export_action_downloads_the_selected_runs(
    admin_client: Client, workflow: Workflow, user: User
) -> None:
    runs = [start_run(workflow, user), start_run(workflow, user)]
    response = post_action(admin_client, TestRun, "export_runs", [r.pk for r in runs])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith("attachment;")
    document = json.loads(response.content)
    assert sorted(item["id"] for item in document) == sorted(str(r.id) for r in runs)
    assert all(item["events"] and item["definition"] for item in document)


# --- the run list at scale -----------------------------------------------------------------


def test_search_finds_runs_by_id_prefix_and_workflow(
    admin_client: Client, workflow: Workflow, user: User
) -> None:
    other = make_workflow(personal_project(user), definition("other-flow"))
    wanted, unwanted = start_run(workflow, user), start_run(other, user)
    url = admin_url(TestRun, "changelist")
    found = admin_client.get(url, {"q": wanted.short_id}).context["cl"].result_list
    assert [r.pk for r in found] == [wanted.pk]
    found = admin_client.get(url, {"q": "other-flow"}).context["cl"].result_list
    assert [r.pk for r in found] == [unwanted.pk]


def test_run_changelist_with_many_runs_is_bounded_and_never_counts_the_table(
    admin_client: Client, run: TestRun, django_assert_max_num_queries: Any
) -> None:
    # Copies of one started run: 300 real starts would test start_test_run, not the admin.
    copies = []
    for _ in range(299):
        clone = TestRun.objects.get(pk=run.pk)
        clone.id = uuid.uuid4()
        copies.append(clone)
    TestRun.objects.bulk_create(copies)
    assert TestRun.objects.count() == 300

    url = admin_url(TestRun, "changelist")
    with django_assert_max_num_queries(15), CaptureQueriesContext(connection) as queries:
        response = admin_client.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count == 300
    assert len(response.context["cl"].result_list) == 100
    for query in queries.captured_queries:
        sql = query["sql"]
        if re.search(r"COUNT\(", sql) and '"testruns_testrun"' in sql:
            assert "LIMIT" in sql or "WHERE" in sql, sql
        # The list never loads payloads or results.
        if sql.startswith('SELECT "testruns_testrun"."id"'):
            assert '"testruns_testrun"."payload"' not in sql, sql

    with django_assert_max_num_queries(15):
        assert admin_client.get(url, {"p": "2", "status": "queued"}).status_code == 200
