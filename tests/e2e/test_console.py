"""A user in Chromium: log in, see the graph, start a test run, watch it live, browse history."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
from django.contrib.auth.models import User
from playwright.sync_api import expect

from meshhook.models import ApiToken
from testruns.models import RunEvent, TestRun


def wait_until_paused(api: httpx.Client, run_id: str, timeout: float = 15) -> None:
    """Poll the API (the page cannot tell us: its socket is down) until the run pauses."""
    deadline = time.monotonic() + timeout
    while api.get(f"/api/test-runs/{run_id}").json()["status"] != "paused":
        assert time.monotonic() < deadline, "the run did not pause again"
        time.sleep(0.05)


def log_lines(page: Any) -> list[tuple[int, str]]:
    return [
        (int(line.get_attribute("data-seq")), line.locator(".msg").inner_text())
        for line in page.locator("#run-log .log-line").all()
    ]


def test_login_lists_demo_workflows_and_draws_the_graph(
    login: Callable[..., Any], screenshot: Callable[..., None]
) -> None:
    page = login()
    table = page.locator("#workflow-table")
    for name in ("Lead to CRM", "RSS digest", "Order fulfilment", "Failing payment"):
        expect(table).to_contain_text(re.compile(name, re.I))
    screenshot(page, "workflows")
    page.get_by_role("link", name="Lead to CRM").first.click()
    graph = page.locator("svg.graph")
    expect(graph).to_be_visible()
    expect(graph.locator("g.node")).to_have_count(6)
    expect(graph.locator("g.node[data-node='hot'] .type")).to_have_text("Branch")
    expect(graph.locator(".edge-label.true")).to_have_count(1)
    expect(page.locator("#testrun-form")).to_be_visible()
    screenshot(page, "workflow")


def test_start_a_test_run_and_watch_it_live(
    login: Callable[..., Any], screenshot: Callable[..., None]
) -> None:
    page = login()
    page.goto("/workflows/order-fulfilment/")
    form = page.locator("#testrun-form")
    payload = json.loads(form.locator("#payload").input_value())
    payload["order_id"] = "ORD-E2E-1"
    form.locator("#payload").fill(json.dumps(payload))
    form.get_by_role("button", name="Add header").click()
    form.locator("[name=header_name]").last.fill("X-Test-Case")
    form.locator("[name=header_value]").last.fill("e2e")
    form.get_by_label("Honour delays").check()  # the 1.5 s delay makes the run observable
    screenshot(page, "testrun-form")
    form.get_by_role("button", name="Start test run").click()
    page.wait_for_url(re.compile(r"/test-runs/[0-9a-f-]{36}/$"))
    page.evaluate("window.__sameDocument = true")

    # The first step's log line arrives over the socket, without a reload.
    expect(page.locator("#run-log .log-line[data-node='hook']").first).to_be_visible()
    expect(page.locator("#step-hook")).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#step-settle")).to_have_attribute("data-status", "running")
    expect(page.locator("#run-status")).to_have_text("running")
    screenshot(page, "run-running")
    assert page.evaluate("window.__sameDocument") is True

    # Steps turn green one after another.
    for node in ("settle", "reserve", "to_xml", "warehouse", "ship", "done"):
        expect(page.locator(f"#step-{node}")).to_have_attribute(
            "data-status", re.compile("succeeded"), timeout=20_000
        )
    expect(page.locator("#step-sms")).to_have_attribute("data-status", "failed")
    expect(page.locator("#run-status")).to_have_text("passed")
    assert page.evaluate("window.__sameDocument") is True
    run = TestRun.objects.get()
    assert run.payload["order_id"] == "ORD-E2E-1"
    assert run.headers["X-Test-Case"] == "e2e"
    assert [seq for seq, _ in log_lines(page)] == list(run.events.values_list("seq", flat=True))

    # History shows it with its parameters.
    page.get_by_role("link", name="Test runs").first.click()
    row = page.locator(f"#run-row-{run.id}")
    expect(row).to_contain_text("passed")
    expect(row).to_contain_text("Order fulfilment")
    screenshot(page, "history")
    row.get_by_role("link", name=run.short_id).click()
    expect(page.locator("#run-params")).to_contain_text("ORD-E2E-1")
    expect(page.locator("#run-params")).to_contain_text("X-Test-Case")


def test_reloading_mid_run_shows_the_same_state(login: Callable[..., Any]) -> None:
    page = login()
    page.goto("/workflows/order-fulfilment/")
    page.get_by_label("Honour delays").check()
    page.get_by_role("button", name="Start test run").click()
    expect(page.locator("#step-settle")).to_have_attribute("data-status", "running")
    page.reload()
    expect(page.locator("#step-hook")).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#step-settle")).to_have_attribute(
        "data-status", re.compile("running|succeeded")
    )
    expect(page.locator("#run-status")).to_have_text("passed", timeout=20_000)
    run = TestRun.objects.get()
    lines = log_lines(page)
    assert [seq for seq, _ in lines] == list(run.events.values_list("seq", flat=True))


def test_failing_demo_shows_the_failed_step_red_with_its_error(
    login: Callable[..., Any], screenshot: Callable[..., None]
) -> None:
    page = login()
    page.goto("/workflows/failing-payment/")
    page.get_by_role("button", name="Start test run").click()
    expect(page.locator("#run-status")).to_have_text("failed", timeout=20_000)
    charge = page.locator("#step-charge")
    expect(charge).to_have_attribute("data-status", "failed")
    expect(charge.locator(".step-error").first).to_contain_text("502")
    expect(page.locator("g.node[data-node='charge']")).to_have_class(re.compile("s-failed"))
    expect(page.locator("#step-receipt")).to_have_attribute("data-status", "skipped")
    expect(page.locator("#run-error")).to_contain_text("charge")
    screenshot(page, "run-failed")


def test_log_on_screen_equals_the_api_events_across_a_socket_drop(
    page: Any, login: Callable[..., Any], console: str
) -> None:
    """A run started through the API and watched in the browser; the socket is dropped
    mid-run and the page must still show exactly the stored event log."""
    token = ApiToken.issue(User.objects.get(username="demo"), "e2e")[1]
    api = httpx.Client(base_url=console, headers={"Authorization": f"Bearer {token}"})
    started = api.post("/api/test-runs", json={
        "workflow": "lead-to-crm", "environment": "local", "mode": "step",
        "payload": {"email": "ada@example.com", "name": "Ada", "company": "AE", "score": 95},
    })  # fmt: skip
    assert started.status_code == 201, started.text
    run_id = started.json()["id"]
    login()
    page.goto(f"/test-runs/{run_id}/")
    expect(page.locator("#live-indicator")).to_have_text("Live")
    expect(page.locator("#run-status")).to_have_text("paused")

    assert api.post(f"/api/test-runs/{run_id}/advance").status_code == 200
    expect(page.locator("#step-hook")).to_have_attribute("data-status", "succeeded")

    # Drop the socket; while it is down, the run moves on.
    page.evaluate(
        "document.querySelector('[ws-connect]')['htmx-internal-data'].webSocket.socket.close(4000)"
    )
    expect(page.locator("#live-indicator")).to_have_text("Offline")
    assert api.post(f"/api/test-runs/{run_id}/advance").status_code == 200
    wait_until_paused(api, run_id)
    assert api.post(f"/api/test-runs/{run_id}/continue").status_code == 200
    expect(page.locator("#run-status")).to_have_text("passed", timeout=20_000)
    expect(page.locator("#live-indicator")).to_have_text("Finished")

    events = api.get(f"/api/test-runs/{run_id}/events").json()["events"]
    assert log_lines(page) == [(e["seq"], e["message"]) for e in events]
    assert len(events) == RunEvent.objects.filter(run_id=run_id).count()


def test_invalid_definition_and_payload_show_their_problems_in_place(
    login: Callable[..., Any], screenshot: Callable[..., None]
) -> None:
    page = login()
    page.goto("/workflows/new/")
    page.locator("#definition").fill(
        '{"schema_version": 1, "name": "X", "slug": "x",'
        ' "nodes": [{"id": "a", "type": "nope"}], "edges": []}'
    )
    page.get_by_role("button", name="Save").click()
    problems = page.locator("#problems")
    expect(problems).to_contain_text("nodes[0].type")
    expect(problems).to_contain_text("nothing was saved")
    expect(page.locator(".topbar")).to_be_visible()  # the page itself stays
    screenshot(page, "editor-problems")

    page.goto("/workflows/lead-to-crm/")
    page.locator("#payload").fill('{"email": "a@b.c",')
    expect(page.locator("#payload-error")).to_contain_text("Not valid JSON")
    page.get_by_role("button", name="Start test run").click()
    expect(page.locator("#form-problems")).to_contain_text("payload")
    expect(page.locator("#payload")).to_have_value('{"email": "a@b.c",')
    assert TestRun.objects.count() == 0
