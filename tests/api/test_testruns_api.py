"""/api/test-runs: start, read, list, events, control, re-run, export.

The worker (testruns.jobs) is not run here: tests assert what the API promises on its
own — the queued run, its first event, the job in the real Redis queue — and move runs
between states through the services or a queryset update, as the worker would.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rq import Queue

from meshhook.models import Environment
from testruns.eventlog import NewEvent, append_events
from testruns.models import RunEvent, RunStatus, StepRun, StepStatus, TestRun
from tests.api.helpers import assert_error, send
from tests.factories import Team, definition, make_run, make_workflow, paused

pytestmark = pytest.mark.django_db

# The keys DESIGN §7 promises; responses may add more.
DETAIL_KEYS = {"id", "workflow", "workflow_version", "status", "environment", "mode",
               "triggered_by", "created_at", "started_at", "completed_at", "duration_ms",
               "parameters", "result", "error", "summary", "steps"}  # fmt: skip
STEP_KEYS = {"node_id", "type", "label", "status", "mocked", "attempts", "started_at",
             "completed_at", "duration_ms", "input", "output", "error"}  # fmt: skip


def start(team: Team, who: str = "owner", http_headers: Any = None, **body: Any) -> Any:
    body.setdefault("workflow", "lead-flow")
    client = team.bearer(getattr(team, who))
    return send(client, "POST", team.url("/api/test-runs"), body, headers=http_headers or {})


# --- POST /api/test-runs ----------------------------------------------------------------------


def test_start_queues_the_run_the_event_and_the_job(
    team: Team, testruns_queue: Queue, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = start(
            team,
            payload={"email": "a@example.com", "score": 90},
            headers={"X-Trace": "1"},
            mode="step",
            breakpoints=["hot"],
            mocks={"map": {"ok": True}},
        )
    assert response.status_code == 201, response.data
    run_id = response.data["id"]
    assert response.data["status"] == "queued"
    assert response.data["url"] == f"http://testserver/test-runs/{run_id}/"
    assert response.data["ws_url"] == f"ws://testserver/ws/test-runs/{run_id}/"
    assert response["Location"] == f"/api/test-runs/{run_id}"
    run = TestRun.objects.get(pk=run_id)
    assert (run.source, run.triggered_by, run.mode) == ("api", team.owner, "step")
    assert run.payload == {"email": "a@example.com", "score": 90}
    assert run.mocks == {"map": {"ok": True}}
    assert list(run.events.values_list("seq", "type")) == [(1, "run_queued")]
    assert testruns_queue.count == 1
    job = testruns_queue.jobs[0]
    assert (job.func_name, job.args) == ("testruns.jobs.drive_run", (run_id,))


def test_start_with_a_session_and_https_gives_wss(team: Team) -> None:
    client = team.session(team.editor)
    response = send(
        client, "POST", team.url("/api/test-runs"), {"workflow": "lead-flow"}, secure=True
    )
    assert response.status_code == 201
    assert response.data["ws_url"].startswith("wss://testserver/ws/test-runs/")
    assert response.data["url"].startswith("https://")


@pytest.mark.parametrize(
    ("body", "headers", "source"),
    [
        ({}, {}, "api"),
        ({"source": "ci"}, {}, "ci"),
        ({}, {"X-MeshHook-Source": "CLI"}, "cli"),
        ({"source": "ci"}, {"X-MeshHook-Source": "cli"}, "ci"),
    ],
)
def test_source_from_body_or_header(team: Team, body: Any, headers: Any, source: str) -> None:
    response = start(team, http_headers=headers, **body)
    assert response.status_code == 201
    assert TestRun.objects.get(pk=response.data["id"]).source == source


def test_an_unknown_test_case_is_400_naming_it(team: Team) -> None:
    assert_error(start(team, test_case=7), 400, "test_case")
    assert not TestRun.objects.exists()


def test_bad_source_is_400(team: Team) -> None:
    assert_error(start(team, source="console"), 400, "source")
    response = start(team, http_headers={"X-MeshHook-Source": "cron"})
    assert_error(response, 400, "X-MeshHook-Source")
    assert not TestRun.objects.exists()


def test_viewer_cannot_start(team: Team, testruns_queue: Queue) -> None:
    assert_error(start(team, "viewer"), 403)
    assert not TestRun.objects.exists()
    assert testruns_queue.count == 0


def test_outsider_and_unknown_workflow_are_404(team: Team) -> None:
    assert_error(start(team, "outsider"), 404, "workflow")
    assert_error(start(team, workflow="nope"), 404, "workflow")
    assert not TestRun.objects.exists()


def test_start_without_auth_is_401(team: Team) -> None:
    assert_error(send(Client(), "POST", "/api/test-runs", {"workflow": "lead-flow"}), 401)


def test_invalid_parameters_name_every_path(team: Team) -> None:
    Environment.objects.create(project=team.project, name="prod", kind="production")
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"environment": "nowhere"}, ["environment"]),
        ({"environment": "prod"}, ["environment"]),
        ({"mode": "fast"}, ["mode"]),
        ({"breakpoints": ["hot", "ghost"]}, ["breakpoints[1]"]),
        ({"mocks": {"ghost": 1}}, ["mocks.ghost"]),
        ({"headers": {"Bad Name": "x", "X-Ok": ["list"]}}, ["headers.Bad Name", "headers.X-Ok"]),
        ({"honor_delays": "yes"}, ["honor_delays"]),
        ({"mode": "fast", "honor_delays": 1}, ["mode", "honor_delays"]),
        ({"breakpoint": ["hot"]}, ["breakpoint"]),
        ({"workflow": 5}, ["workflow"]),
        ({"project": 5}, ["project"]),
    ]
    for body, paths in cases:
        assert_error(start(team, **body), 400, *paths)
    assert not TestRun.objects.exists()


def test_body_must_be_a_json_object(team: Team) -> None:
    client = team.bearer(team.owner)
    assert_error(send(client, "POST", "/api/test-runs", ["lead-flow"]), 400, "$")
    response = client.post("/api/test-runs", data="{", content_type="application/json")
    assert_error(response, 400, "$")


# --- GET /api/test-runs/<id> --------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "editor", "viewer"])
def test_members_read_the_run_with_every_step(team: Team, who: str) -> None:
    run = make_run(team.workflow, team.owner, payload={"score": 99})
    now = timezone.now()
    # As the worker would have it: the trigger done, the branch running, the rest pending.
    run.steps.filter(node_id="hook").update(
        status=StepStatus.SUCCEEDED,
        position=0,
        started_at=now,
        completed_at=now,
        duration_ms=3,
        output={"body": {"score": 99}},
        attempts=1,
    )
    run.steps.filter(node_id="hot").update(status=StepStatus.RUNNING, position=1)
    response = send(team.session(getattr(team, who)), "GET", f"/api/test-runs/{run.id}")
    assert response.status_code == 200
    data = response.data
    assert set(data) >= DETAIL_KEYS
    assert data["parameters"]["payload"] == {"score": 99}
    assert data["summary"] == {"total": 5, "succeeded": 0, "failed": 0, "skipped": 0}
    assert [s["node_id"] for s in data["steps"]] == ["hook", "hot", "map", "notify", "done"]
    assert [s["status"] for s in data["steps"]][:3] == ["succeeded", "running", "pending"]
    hook = data["steps"][0]
    assert set(hook) >= STEP_KEYS
    assert hook["started_at"].endswith("Z")
    assert hook["duration_ms"] == 3
    assert (hook["error"], hook["iteration"], hook["reused"]) == (None, None, False)
    assert data["triggered_by"] == "api"


LOOP_DEFINITION = definition(
    "loopy",
    nodes=[
        {"id": "hook", "type": "webhook_trigger"},
        {"id": "each", "type": "loop", "config": {"items": "body.items"}},
        {"id": "double", "type": "transform", "parent": "each", "config": {"expression": "item"}},
        {"id": "done", "type": "terminate", "config": {"status": "success"}},
    ],
    edges=[{"source": "hook", "target": "each"}, {"source": "each", "target": "done"}],
)


def test_loop_body_steps_are_listed_once_per_iteration(team: Team) -> None:
    run = make_run(make_workflow(team.project, LOOP_DEFINITION), team.owner)
    pending = send(team.bearer(team.owner), "GET", f"/api/test-runs/{run.id}").data
    assert [s["node_id"] for s in pending["steps"]] == ["hook", "each", "double", "done"]
    run.steps.filter(node_id="hook").update(status=StepStatus.SUCCEEDED, position=0)
    run.steps.filter(node_id="each").update(status=StepStatus.SUCCEEDED, position=1)
    for iteration in (1, 0):
        StepRun.objects.create(
            run=run,
            node_id="double",
            iteration=iteration,
            node_type="transform",
            label="double",
            parent_node_id="each",
            definition_index=2,
            status=StepStatus.SUCCEEDED,
            output=iteration,
        )
    steps = send(team.bearer(team.owner), "GET", f"/api/test-runs/{run.id}").data["steps"]
    listed = [(s["node_id"], s["iteration"]) for s in steps]
    assert listed == [("hook", None), ("each", None), ("double", 0), ("double", 1), ("done", None)]


def test_run_is_404_for_outsiders_and_unknown_ids(team: Team) -> None:
    run = make_run(team.workflow, team.owner)
    response = send(team.bearer(team.outsider), "GET", f"/api/test-runs/{run.id}")
    assert_error(response, 404)
    assert response.json()["error"] == f"No test run {run.id}."
    assert_error(send(team.bearer(team.owner), "GET", f"/api/test-runs/{uuid.uuid4()}"), 404)
    assert_error(send(team.bearer(team.owner), "GET", "/api/test-runs/not-a-uuid"), 404)


RUN_URLS = [
    ("GET", ""),
    ("GET", "/events"),
    ("POST", "/advance"),
    ("POST", "/continue"),
    ("POST", "/cancel"),
    ("POST", "/rerun"),
    ("GET", "/export"),
]


@pytest.mark.parametrize(("method", "suffix"), RUN_URLS)
def test_every_run_endpoint_guards_access(team: Team, method: str, suffix: str) -> None:
    run = paused(make_run(team.workflow, team.owner), before="hook")
    url = f"/api/test-runs/{run.id}{suffix}"
    assert_error(send(Client(), method, url), 401)
    revoked = team.bearer(team.editor)
    from meshhook.models import ApiToken

    ApiToken.objects.filter(user=team.editor).update(revoked_at=timezone.now())
    assert_error(send(revoked, method, url), 401)
    assert_error(send(team.bearer(team.outsider), method, url), 404)
    if method == "POST":
        assert_error(send(team.bearer(team.viewer), method, url), 403)
    else:
        assert send(team.bearer(team.viewer), method, url).status_code == 200
    assert TestRun.objects.get(pk=run.pk).status == RunStatus.PAUSED
    assert TestRun.objects.count() == 1


# --- GET /api/test-runs -------------------------------------------------------------------


def test_keyset_pagination_is_complete_newest_first_without_duplicates(team: Team) -> None:
    runs = [make_run(team.workflow, team.owner) for _ in range(11)]
    tied = timezone.now()
    # Several rows share one timestamp: the id breaks the tie, so none is skipped or repeated.
    TestRun.objects.filter(pk__in=[r.pk for r in runs[3:8]]).update(created_at=tied)
    expected = list(TestRun.objects.order_by("-created_at", "-id").values_list("id", flat=True))
    client, seen, cursor, pages = team.bearer(team.viewer), [], None, 0
    while True:
        url = team.url("/api/test-runs?limit=3") + (f"&cursor={cursor}" if cursor else "")
        page = send(client, "GET", url).data
        seen += [r["id"] for r in page["results"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(run_id) for run_id in expected]
    assert len(set(seen)) == 11
    assert pages == 4


def test_list_filters(team: Team) -> None:
    first = make_run(team.workflow, team.owner)
    second = make_run(team.workflow, team.editor)
    other = make_run(make_workflow(team.project, definition("other")), team.owner)
    TestRun.objects.filter(pk=second.pk).update(status=RunStatus.FAILED, source="ci")
    client = team.bearer(team.owner)

    def ids(query: str) -> set[str]:
        response = send(client, "GET", team.url(f"/api/test-runs?{query}"))
        assert response.status_code == 200, response.data
        return {r["id"] for r in response.data["results"]}

    assert ids("workflow=other") == {str(other.id)}
    assert ids("status=failed") == {str(second.id)}
    assert ids("status=failed,queued") == {str(first.id), str(second.id), str(other.id)}
    assert ids("environment=local") == {str(first.id), str(second.id), str(other.id)}
    assert ids("environment=staging") == set()
    assert ids("triggered_by=ci") == {str(second.id)}
    assert ids(f"triggered_by={team.owner.username}") == {str(first.id), str(other.id)}


def test_outsider_sees_no_runs(team: Team) -> None:
    make_run(team.workflow, team.owner)
    outsider = team.bearer(team.outsider)
    assert send(outsider, "GET", "/api/test-runs").data == {"results": [], "next_cursor": None}
    assert_error(send(outsider, "GET", team.url("/api/test-runs")), 404, "project")


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ("status=done", "status"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("cursor=%%%", "cursor"),
        ("cursor=bm90LWpzb24", "cursor"),
        ("cursor=WyJ4IiwieSJd", "cursor"),
    ],
)
def test_bad_list_queries_are_400(team: Team, query: str, path: str) -> None:
    assert_error(send(team.bearer(team.owner), "GET", f"/api/test-runs?{query}"), 400, path)


# --- events -----------------------------------------------------------------------------------


def test_events_page_after_a_sequence_number(team: Team) -> None:
    run = make_run(team.workflow, team.owner)
    append_events(run.id, [NewEvent("log", f"line {n}", node_id="map") for n in range(2100)])
    client, after, seen = team.bearer(team.viewer), 0, []
    while True:
        page = send(client, "GET", f"/api/test-runs/{run.id}/events?after={after}").data
        seen += [event["seq"] for event in page["events"]]
        if not page["events"]:
            assert page["next_after"] == after
            assert page["has_more"] is False
            break
        assert len(page["events"]) <= 1000
        after = page["next_after"]
    assert seen == list(range(1, 2102))
    event = send(client, "GET", f"/api/test-runs/{run.id}/events?after=1&limit=1").data
    assert event["events"][0]["message"] == "line 0"
    assert set(event["events"][0]) >= {"seq", "ts", "type", "node_id", "level", "message", "data"}
    assert event["next_after"] == 2
    assert event["has_more"] is True


@pytest.mark.parametrize("query", ["after=-1", "after=x", "limit=0", "limit=1001"])
def test_bad_event_queries_are_400(team: Team, query: str) -> None:
    run = make_run(team.workflow, team.owner)
    response = send(team.bearer(team.owner), "GET", f"/api/test-runs/{run.id}/events?{query}")
    assert_error(response, 400, query.split("=")[0])


# --- control ----------------------------------------------------------------------------------


def test_advance_a_paused_run(
    team: Team, testruns_queue: Queue, django_capture_on_commit_callbacks: Any
) -> None:
    run = paused(make_run(team.workflow, team.owner, mode="step"), before="hook")
    with django_capture_on_commit_callbacks(execute=True):
        response = send(team.session(team.editor), "POST", f"/api/test-runs/{run.id}/advance")
    assert response.status_code == 200
    assert response.data["status"] == "running"
    run.refresh_from_db()
    assert (run.steps_to_run, run.release_node) == (1, "hook")
    assert run.events.last().type == RunEvent.Type.RUN_RESUMED  # type: ignore[union-attr]
    assert testruns_queue.count == 1


def test_advance_on_a_run_that_is_not_paused_is_409(team: Team) -> None:
    run = make_run(team.workflow, team.owner, mode="step")
    assert_error(send(team.bearer(team.owner), "POST", f"/api/test-runs/{run.id}/advance"), 409)
    assert_error(send(team.bearer(team.owner), "POST", f"/api/test-runs/{run.id}/continue"), 409)
    assert TestRun.objects.get(pk=run.pk).status == RunStatus.QUEUED


def test_continue_until_a_node(team: Team) -> None:
    run = paused(make_run(team.workflow, team.owner, mode="step"), before="hook")
    client = team.bearer(team.owner)
    url = f"/api/test-runs/{run.id}/continue"
    assert_error(send(client, "POST", url, {"until": "ghost"}), 400, "until")
    assert_error(send(client, "POST", url, {"until": 3}), 400, "until")
    assert_error(send(client, "POST", url, {"untill": "done"}), 400, "untill")
    response = send(client, "POST", url, {"until": "notify"})
    assert response.status_code == 200
    run.refresh_from_db()
    assert (run.status, run.steps_to_run) == (RunStatus.RUNNING, None)
    # A one-off stop, not a breakpoint that would outlive this run.
    assert run.run_until == "notify"
    assert "notify" not in run.breakpoints


def test_continue_without_a_body(team: Team) -> None:
    run = paused(make_run(team.workflow, team.owner, mode="step"), before="hook")
    response = send(team.bearer(team.owner), "POST", f"/api/test-runs/{run.id}/continue")
    assert response.status_code == 200
    assert TestRun.objects.get(pk=run.pk).breakpoints == []


def test_cancel_then_cancel_again_is_409(team: Team) -> None:
    run = make_run(team.workflow, team.owner)
    client = team.bearer(team.editor)
    response = send(client, "POST", f"/api/test-runs/{run.id}/cancel")
    assert response.status_code == 200
    assert response.data["status"] == "cancelled"
    assert team.editor.username in response.data["error"]
    assert run.events.order_by("seq").last().type == "run_finished"  # type: ignore[union-attr]
    assert set(run.steps.values_list("status", flat=True)) == {StepStatus.SKIPPED}
    assert_error(send(client, "POST", f"/api/test-runs/{run.id}/cancel"), 409)


# --- rerun and export -------------------------------------------------------------------------


def test_rerun_with_overrides(
    team: Team, testruns_queue: Queue, django_capture_on_commit_callbacks: Any
) -> None:
    run = make_run(team.workflow, team.owner, payload={"score": 1})
    with django_capture_on_commit_callbacks(execute=True):
        response = send(
            team.bearer(team.editor),
            "POST",
            f"/api/test-runs/{run.id}/rerun",
            {"payload": {"score": 2}, "source": "ci"},
        )
    assert response.status_code == 201
    new = TestRun.objects.get(pk=response.data["id"])
    assert (new.source_run_id, new.payload, new.source) == (run.id, {"score": 2}, "ci")
    assert new.triggered_by == team.editor
    assert testruns_queue.count == 1


def test_rerun_from_a_step_reuses_earlier_outputs(team: Team) -> None:
    run = make_run(team.workflow, team.owner)
    for position, node in enumerate(["hook", "map", "hot"]):
        run.steps.filter(node_id=node).update(
            status=StepStatus.SUCCEEDED, position=position, output={"from": node}
        )
    TestRun.objects.filter(pk=run.pk).update(status=RunStatus.PASSED)
    client = team.bearer(team.owner)
    url = f"/api/test-runs/{run.id}/rerun"
    assert_error(send(client, "POST", url, {"from_step": "notify"}), 400, "from_step")
    assert_error(send(client, "POST", url, {"from_step": 1}), 400, "from_step")
    assert_error(
        send(client, "POST", url, {"use_current_version": "yes"}), 400, "use_current_version"
    )
    assert_error(send(client, "POST", url, {"environment": "ghost"}), 400, "environment")
    assert TestRun.objects.count() == 1
    response = send(client, "POST", url, {"from_step": "hot"})
    assert response.status_code == 201
    steps = send(client, "GET", f"/api/test-runs/{response.data['id']}").data["steps"]
    reused = {s["node_id"]: s["output"] for s in steps if s["reused"]}
    assert reused == {"hook": {"from": "hook"}, "map": {"from": "map"}}


def test_export_is_the_whole_run_as_an_attachment(team: Team) -> None:
    run = make_run(team.workflow, team.owner)
    run.steps.filter(node_id="hook").update(http=[{"request": {"url": "x"}}], position=0)
    response = send(team.bearer(team.viewer), "GET", f"/api/test-runs/{run.id}/export")
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="test-run-lead-flow-{run.id}.json"'
    )
    data = response.data
    assert set(data) >= DETAIL_KEYS
    assert data["definition"] == team.workflow.current_version().definition
    assert [e["type"] for e in data["events"]] == ["run_queued"]
    assert data["steps"][0]["http"] == [{"request": {"url": "x"}}]


def test_api_breakpoints_that_are_not_node_ids_are_a_400(team: Team, run_queue: Queue) -> None:
    response = team.client("owner").post(
        "/api/test-runs",
        json.dumps({"workflow": "lead-flow", "project": team.project.slug,
                    "breakpoints": [{"x": 1}]}),
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "breakpoints[0]"
