"""Importing and exporting: a run exported elsewhere comes back as the same view, read-only
and marked imported; a workflow's test cases go to one JSON file and back, credentials
never in clear; a bad file is a 400 naming the JSON path, and writes nothing."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from meshhook.engine import MASK
from meshhook.models import Workflow
from testruns.models import RunEvent, StepRun, TestRun
from testruns.testcase_models import TestCase
from tests.api.helpers import assert_error, send
from tests.api.test_openapi import schema_validator
from tests.factories import Team, definition, finished, make_run, make_team, make_workflow
from tests.testcases.helpers import make_case

pytestmark = pytest.mark.django_db

# What differs between a run and its import by design: identity, links, who started it.
OWN_KEYS = {"id", "project", "url", "ws_url", "user", "triggered_by", "source_run",
            "test_case", "kept", "imported_at", "imported_from"}  # fmt: skip
CHECKS = [{"target": "run.status", "op": "equals", "expected": "passed"}]


def driven_run(team: Team, drain: Callable[[], int]) -> TestRun:
    """A run the worker drove to its end: every step, output and event as recorded."""
    run = make_run(team.workflow, team.owner, payload={"score": 95}, headers={
        "Authorization": "Bearer very-secret-token-0451", "X-Source": "ci"})  # fmt: skip
    drain()
    run.refresh_from_db()
    assert run.is_finished, run.status
    return run


def exported(team: Team, run: TestRun) -> dict[str, Any]:
    response = send(team.bearer(team.owner), "GET", f"/api/test-runs/{run.id}/export")
    assert response.status_code == 200
    data: dict[str, Any] = response.data
    return data


def view(client: Any, run_id: object) -> dict[str, Any]:
    detail = send(client, "GET", f"/api/test-runs/{run_id}").data
    events = send(client, "GET", f"/api/test-runs/{run_id}/events").data["events"]
    return {**{k: v for k, v in detail.items() if k not in OWN_KEYS}, "events": events}


STEP_ROW = re.compile(r'<details class="step[^"]*"[^>]*data-status="(\w+)" data-node="([\w-]+)"')
LOG_LINE = re.compile(r'data-seq="(\d+)"[^>]*>.*?<span class="msg">(.*?)</span>')


def page_parts(response: Any) -> dict[str, list[Any]]:
    """What a run page shows of its steps and log: (status, node) per row, each log line."""
    assert response.status_code == 200
    html = response.content.decode()
    parts = {"steps": STEP_ROW.findall(html), "log": LOG_LINE.findall(html)}
    assert parts["steps"]
    assert parts["log"]
    return parts


# --- runs -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_exported_run_imports_as_the_same_view(team: Team, drain: Callable[[], int]) -> None:
    run = driven_run(team, drain)
    document = exported(team, run)
    elsewhere = make_team()  # another project, with a workflow of the same definition
    client = elsewhere.bearer(elsewhere.owner)

    response = send(client, "POST", elsewhere.url("/api/test-runs/import"), document)

    assert response.status_code == 201, response.data
    imported = TestRun.objects.get(pk=response.data["id"])
    assert response["Location"] == f"/api/test-runs/{imported.id}"
    assert imported.project == elsewhere.project
    assert imported.workflow == elsewhere.workflow
    assert response.data["imported_from"] == str(run.id)
    assert response.data["imported_at"] is not None
    assert view(client, imported.id) == view(team.bearer(team.owner), run.id)
    assert imported.steps.count() == run.steps.count()
    assert imported.events.count() == run.events.count() > 3
    assert imported.headers["Authorization"] == MASK  # as exported: masked
    # The run page draws the same steps and log lines.
    assert page_parts(elsewhere.client("owner").get(f"/test-runs/{imported.id}/")) == page_parts(
        team.client("owner").get(f"/test-runs/{run.id}/")
    )
    # Exported again, it is the same document but for what is its own.
    again = exported(elsewhere, imported)
    for key in ("steps", "events", "result", "status", "parameters", "definition", "summary"):
        assert again[key] == document[key], key


@pytest.mark.django_db(transaction=True)
def test_the_imported_run_page_is_read_only_and_marked(
    team: Team, drain: Callable[[], int]
) -> None:
    run = driven_run(team, drain)
    elsewhere = make_team()
    client = elsewhere.bearer(elsewhere.owner)
    new_id = send(client, "POST", elsewhere.url("/api/test-runs/import"), exported(team, run))
    imported = new_id.data["id"]

    page = elsewhere.client("owner").get(f"/test-runs/{imported}/").content.decode()

    assert 'id="run-imported"' in page
    assert str(run.id) in page  # where it came from
    assert 'id="btn-rerun"' not in page
    assert f"/test-runs/{imported}/keep/" in page  # pinning is still allowed
    for action in ("rerun", "cancel", "advance", "continue"):
        assert_error(send(client, "POST", f"/api/test-runs/{imported}/{action}"), 409, "$")
    console = elsewhere.client("owner").post(f"/test-runs/{imported}/rerun/")
    assert console.status_code == 409
    assert TestRun.objects.filter(project=elsewhere.project).count() == 1


def test_importing_creates_the_workflow_when_the_project_has_none(team: Team) -> None:
    run = finished(make_run(team.workflow, team.owner))
    document = exported(team, run)
    document["definition"]["slug"] = "brand-new"
    target = make_team()

    response = send(target.bearer(target.owner), "POST", target.url("/api/test-runs/import"),
                    document)  # fmt: skip

    assert response.status_code == 201, response.data
    workflow = Workflow.objects.get(project=target.project, slug="brand-new")
    assert workflow.current_version().definition == document["definition"]
    assert response.data["workflow"] == "brand-new"


def test_a_workflow_without_the_run_s_definition_is_a_409(team: Team) -> None:
    run = finished(make_run(team.workflow, team.owner))
    target = make_team()
    make_workflow(target.project, definition(name="Changed name"))  # lead-flow, v2 differs
    assert target.workflow.versions.count() == 2
    TestRun.objects.filter(pk=run.pk).update(workflow_version=team.workflow.current_version())
    document = exported(team, run)
    document["definition"] = definition(description="never saved anywhere")

    response = send(target.bearer(target.owner), "POST", target.url("/api/test-runs/import"),
                    document)  # fmt: skip

    assert_error(response, 409, "definition")
    assert not TestRun.objects.filter(project=target.project).exists()
    assert target.workflow.versions.count() == 2


def test_the_same_run_imported_twice_is_a_409(team: Team) -> None:
    run = finished(make_run(team.workflow, team.owner))
    document = exported(team, run)
    target = make_team()
    client = target.bearer(target.owner)
    first = send(client, "POST", target.url("/api/test-runs/import"), document)

    again = send(client, "POST", target.url("/api/test-runs/import"), document)

    assert_error(again, 409, "id")
    assert first.data["id"] in again.data["errors"][0]["message"]


def test_a_bad_export_is_a_400_naming_each_path_and_writes_nothing(team: Team) -> None:
    run = finished(make_run(team.workflow, team.owner))
    document = exported(team, run)
    bad = copy.deepcopy(document)
    bad["status"] = "running"
    bad["steps"][1]["status"] = "bogus"
    bad["steps"][2]["node_id"] = "ghost"
    bad["events"][0]["seq"] = "one"
    bad["parameters"]["headers"] = {"X-Count": 3}
    bad["steps"][0]["http"] = ["not an exchange"]
    del bad["created_at"]
    target = make_team()
    counts = (TestRun.objects.count(), StepRun.objects.count(), RunEvent.objects.count(),
              Workflow.objects.count())  # fmt: skip

    response = send(target.bearer(target.owner), "POST", target.url("/api/test-runs/import"), bad)

    assert_error(
        response, 400,
        "status", "steps[1].status", "steps[2].node_id", "events[0].seq",
        'parameters.headers["X-Count"]', "created_at", "steps[0].http[0]",
    )  # fmt: skip
    assert counts == (TestRun.objects.count(), StepRun.objects.count(), RunEvent.objects.count(),
                      Workflow.objects.count())  # fmt: skip
    document["definition"]["nodes"][1]["type"] = "teleport"
    response = send(target.bearer(target.owner), "POST", target.url("/api/test-runs/import"),
                    document)  # fmt: skip
    assert_error(response, 400, "definition.nodes[1].type")
    assert counts[0] == TestRun.objects.count()


def test_not_an_export_at_all(team: Team) -> None:
    client = team.bearer(team.owner)
    url = team.url("/api/test-runs/import")
    assert_error(send(client, "POST", url, [1, 2]), 400, "$")
    assert_error(send(client, "POST", url, {"format": "x"}), 400)
    assert_error(send(client, "POST", url), 400, "$")
    assert send(client, "GET", url).status_code == 405


@pytest.mark.parametrize(("who", "status"), [("owner", 201), ("editor", 201), ("viewer", 403),
                                             ("outsider", 404)])  # fmt: skip
def test_who_may_import_a_run(team: Team, who: str, status: int) -> None:
    document = exported(team, finished(make_run(team.workflow, team.owner)))
    document["id"] = None  # a copy without its origin, so every role may try it
    client = team.bearer(team.user(who))

    response = send(client, "POST", team.url("/api/test-runs/import"), document)

    assert response.status_code == status, response.data
    assert TestRun.objects.count() == (2 if status == 201 else 1)


# --- test-case files --------------------------------------------------------------------


def case_file(team: Team, **query: str) -> Any:
    params = "&".join(f"{k}={v}" for k, v in query.items())
    url = team.url(f"/api/workflows/lead-flow/test-cases/export{'?' + params if params else ''}")
    return send(team.bearer(team.viewer), "GET", url)


def import_file(team: Team, document: Any, who: str = "owner", query: str = "") -> Any:
    url = team.url(f"/api/workflows/lead-flow/test-cases/import{query}")
    return send(team.bearer(team.user(who)), "POST", url, document)


def cases_of(team: Team) -> list[dict[str, Any]]:
    return [case.editable_fields() for case in team.workflow.test_cases.order_by("name")]


def make_cases(team: Team) -> None:
    make_case(team.workflow, team.owner, name="b second", assertions=CHECKS,
              headers={"Authorization": "Bearer case-secret-0451", "X-Mode": "test"})  # fmt: skip
    make_case(team.workflow, team.owner, name="a first", mocks={"notify": {"ok": True}},
              volatile_paths=["steps.*.output.headers.date"])  # fmt: skip


def test_the_file_is_stable_sorted_and_never_has_credentials_in_clear(team: Team) -> None:
    make_cases(team)

    response = case_file(team)

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="lead-flow.test-cases.json"'
    assert response.content == case_file(team).content  # the same bytes every time
    assert response.content.endswith(b"\n")
    data = response.data
    assert data["format"] == "meshhook.test-cases/1"
    assert data["workflow"] == "lead-flow"
    assert [case["name"] for case in data["test_cases"]] == ["a first", "b second"]
    assert data["test_cases"][1]["headers"] == {"Authorization": MASK, "X-Mode": "test"}
    assert b"case-secret-0451" not in response.content
    sealed = case_file(team, credentials="encrypted")
    assert sealed.data["test_cases"][1]["headers"]["Authorization"].startswith(
        "meshhook-encrypted:"
    )
    assert b"case-secret-0451" not in sealed.content
    assert_error(case_file(team, credentials="plain"), 400, "credentials")


def test_a_round_trip_into_another_deployment_gives_the_same_cases(team: Team) -> None:
    make_cases(team)
    document = case_file(team, credentials="encrypted").data
    target = make_team()

    response = import_file(target, document)

    assert response.status_code == 200, response.data
    assert response.data["created"] == ["a first", "b second"]
    assert response.data["warnings"] == []
    assert cases_of(target) == cases_of(team)
    again = import_file(target, document)
    assert again.data["unchanged"] == ["a first", "b second"]


def test_masked_credentials_keep_the_stored_value(team: Team) -> None:
    make_cases(team)
    document = case_file(team).data
    document["test_cases"][1]["assertions"] = []  # a change, and the mask left as it is

    response = import_file(team, document)

    assert response.status_code == 200, response.data
    assert response.data["updated"] == ["b second"]
    case = TestCase.objects.get(workflow=team.workflow, name="b second")
    assert case.headers_for_engine()["Authorization"] == "Bearer case-secret-0451"
    assert "case-secret-0451" not in case.headers["Authorization"]  # encrypted at rest
    assert case.assertions == []


def test_masked_credentials_with_nothing_stored_are_refused(team: Team) -> None:
    make_cases(team)
    target = make_team()

    response = import_file(target, case_file(team).data)

    assert_error(response, 400, "test_cases[1].headers.Authorization")
    assert not target.workflow.test_cases.exists()


def test_a_bad_file_is_a_400_naming_each_path_and_writes_nothing(team: Team) -> None:
    make_cases(team)
    before = cases_of(team)
    document = case_file(team).data
    document["test_cases"][0]["description"] = "changed, but never saved"
    document["test_cases"].append({"name": "third", "assertions": [
        {"target": "run.status", "op": "resembles", "expected": "passed"}]})  # fmt: skip
    document["test_cases"].append({"name": "fourth", "mocks": {"ghost": {}}, "colour": "red"})
    document["test_cases"].append({"name": "a first"})

    response = import_file(team, document)

    assert_error(
        response, 400,
        "test_cases[2].assertions[0].op", "test_cases[3].mocks.ghost", "test_cases[3].colour",
        "test_cases[4].name",
    )  # fmt: skip
    assert cases_of(team) == before


def test_a_file_for_another_workflow_or_format_is_refused(team: Team) -> None:
    assert_error(import_file(team, {"format": "meshhook.test-cases/1", "workflow": "other",
                                    "test_cases": []}), 400, "workflow")  # fmt: skip
    assert_error(import_file(team, {"format": "x", "workflow": "lead-flow", "test_cases": {}}),
                 400, "format", "test_cases")  # fmt: skip
    assert_error(import_file(team, [1]), 400, "$")


def test_a_baseline_this_deployment_lacks_is_dropped_with_a_warning(team: Team) -> None:
    baseline = finished(make_run(team.workflow, team.owner))
    make_case(team.workflow, team.owner, name="with baseline", baseline_run=str(baseline.id))
    document = case_file(team).data
    target = make_team()

    response = import_file(target, document)

    assert response.status_code == 200, response.data
    assert response.data["warnings"] == [{"path": "test_cases[0].baseline_run", "message": (
        f"Run {baseline.id} is not in this deployment; imported without it.")}]  # fmt: skip
    assert target.workflow.test_cases.get().baseline_run is None
    # In its own deployment the baseline is kept.
    assert import_file(team, document).data["unchanged"] == ["with baseline"]


def test_a_dry_run_import_reports_and_writes_nothing(team: Team) -> None:
    make_cases(team)
    target = make_team()

    response = import_file(target, case_file(team, credentials="encrypted").data,
                           query="?dry_run=1")  # fmt: skip

    assert response.status_code == 200
    assert response.data["created"] == ["a first", "b second"]
    assert response.data["dry_run"] is True
    assert not target.workflow.test_cases.exists()


@pytest.mark.parametrize(("who", "status"), [("owner", 200), ("editor", 200), ("viewer", 403),
                                             ("outsider", 404)])  # fmt: skip
def test_who_may_import_test_cases(team: Team, who: str, status: int) -> None:
    document = {"format": "meshhook.test-cases/1", "workflow": "lead-flow",
                "test_cases": [{"name": "new"}]}  # fmt: skip
    assert import_file(team, document, who).status_code == status
    assert team.workflow.test_cases.exists() is (status == 200)


@pytest.mark.parametrize(("who", "status"), [("viewer", 200), ("outsider", 404)])
def test_who_may_export_test_cases(team: Team, who: str, status: int) -> None:
    url = team.url("/api/workflows/lead-flow/test-cases/export")
    assert send(team.bearer(team.user(who)), "GET", url).status_code == status


# --- the commands -----------------------------------------------------------------------


def test_the_commands_write_a_file_per_workflow_and_read_it_back(
    team: Team, tmp_path: Path
) -> None:
    make_cases(team)
    make_workflow(team.project, definition("second-flow"))
    out = StringIO()

    call_command("export_test_cases", "--project", team.project.slug, "--dir", str(tmp_path),
                 "--credentials", "encrypted", stdout=out)  # fmt: skip

    written = tmp_path / "lead-flow.test-cases.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "lead-flow.test-cases.json", "second-flow.test-cases.json"]  # fmt: skip
    assert json.loads(written.read_text())["test_cases"][0]["name"] == "a first"
    target = make_team()
    out = StringIO()
    call_command("import_test_cases", str(written), "--project", target.project.slug, stdout=out)
    assert "2 created" in out.getvalue()
    assert cases_of(target) == cases_of(team)


def test_the_import_command_says_what_is_wrong_and_writes_nothing(
    team: Team, tmp_path: Path
) -> None:
    path = tmp_path / "lead-flow.test-cases.json"
    path.write_text(json.dumps({"format": "meshhook.test-cases/1", "workflow": "lead-flow",
                                "test_cases": [{"name": "x", "mocks": {"ghost": 1}}]}))  # fmt: skip
    with pytest.raises(CommandError, match=r"test_cases\[0\]\.mocks\.ghost"):
        call_command("import_test_cases", str(path), "--project", team.project.slug,
                     stdout=StringIO())  # fmt: skip
    assert not team.workflow.test_cases.exists()


def test_the_answers_match_the_openapi_document(team: Team) -> None:
    make_cases(team)
    run = finished(make_run(team.workflow, team.owner))
    target = make_team()
    imported = send(target.bearer(target.owner), "POST", target.url("/api/test-runs/import"),
                    exported(team, run))  # fmt: skip
    schema_validator("TestRunItem").validate(imported.data)
    kept = send(team.bearer(team.owner), "PATCH", f"/api/test-runs/{run.id}", {"kept": True})
    schema_validator("TestRunItem").validate(kept.data)
    document = case_file(team).data
    schema_validator("TestCaseFile").validate(document)
    schema_validator("TestCaseImport").validate(import_file(team, document).data)


def test_the_run_import_command(team: Team, tmp_path: Path) -> None:
    run = finished(make_run(team.workflow, team.owner))
    path = tmp_path / "run.json"
    path.write_text(json.dumps(exported(team, run)))
    target = make_team()
    out = StringIO()

    call_command("import_test_run", str(path), "--project", target.project.slug, stdout=out)

    imported = TestRun.objects.get(project=target.project)
    assert f"Imported run {run.id} as {imported.id}" in out.getvalue()
    with pytest.raises(CommandError, match=r"id: Already imported"):
        call_command("import_test_run", str(path), "--project", target.project.slug)
    path.write_text("{")
    with pytest.raises(CommandError, match="not JSON"):
        call_command("import_test_run", str(path), "--project", target.project.slug)
