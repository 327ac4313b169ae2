"""Fixes from the console issue, as a user in Chromium sees them: history filters keep
their rows, a reload does not issue a second API token, a cancelled step is grey, icons are
drawn (not emoji boxes) and a fixed payload loses its old error."""

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from playwright.sync_api import expect

from meshhook.models import ApiToken, Workflow
from testruns.models import TestRun
from tests.factories import make_workflow, personal_project, start_run

EMOJI = ("🧪", "📌", "⏱")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def shoot(page: Any, screenshot: Callable[..., None], name: str) -> None:
    """The page at 1440 px (whole) and at 390 px wide (whole), under test-artifacts/."""
    screenshot(page, name)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(ARTIFACTS / f"{name}-mobile.png"), full_page=True)
    page.set_viewport_size({"width": 1440, "height": 1000})


def wait_for_end(*runs: TestRun, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    for run in runs:
        while TestRun.objects.get(pk=run.pk).status in ("queued", "running"):
            assert time.monotonic() < deadline, "the worker did not finish the run"
            time.sleep(0.05)


def shown_rows(page: Any) -> list[str]:
    """The run table as the user reads it: one line per row, workflow and status."""
    rows = page.locator("#run-table tbody tr")
    return sorted(
        f"{row.locator('td').nth(3).locator('a').inner_text()} · {row.get_attribute('data-status')}"
        for row in rows.all()
    )


def test_history_filters_show_the_matching_rows(
    login: Callable[..., Any], screenshot: Callable[..., None]
) -> None:
    user = User.objects.get(username="demo")
    lead = Workflow.objects.get(slug="lead-to-crm")
    failing = Workflow.objects.get(slug="failing-payment")
    runs = [
        start_run(lead, user),
        start_run(lead, user, environment="staging"),
        start_run(failing, user, environment="staging"),
    ]
    wait_for_end(*runs)
    # One of them came from the API, as a CI script would start it.
    TestRun.objects.filter(pk=runs[2].pk).update(source=TestRun.Source.API)
    statuses = {run.pk: TestRun.objects.get(pk=run.pk).status for run in runs}

    page = login()
    page.goto("/test-runs/")
    expect(page.locator("#run-table tbody tr")).to_have_count(3)
    filters = page.locator("#run-filters")

    filters.get_by_label("Workflow").select_option(label="Failing payment")
    expect(page).to_have_url(re.compile(r"workflow=failing-payment"))
    expect(page.locator("#run-table tbody tr")).to_have_count(1)
    assert shown_rows(page) == [f"Failing payment · {statuses[runs[2].pk]}"]
    expect(page.locator("#run-results")).to_contain_text("1 shown")

    filters.get_by_label("Workflow").select_option(label="All workflows")
    expect(page.locator("#run-table tbody tr")).to_have_count(3)
    filters.get_by_label("Environment").select_option("staging")
    expect(page).to_have_url(re.compile(r"environment=staging"))
    expect(page.locator("#run-table tbody tr")).to_have_count(2)
    expect(page.locator("#run-results")).to_contain_text("2 shown")

    filters.get_by_label("Environment").select_option("")
    filters.get_by_label("Triggered by").select_option("api")
    expect(page.locator("#run-table tbody tr")).to_have_count(1)
    assert shown_rows(page) == [f"Failing payment · {statuses[runs[2].pk]}"]

    filters.get_by_label("Triggered by").select_option("")
    failed = sum(1 for status in statuses.values() if status == "failed")
    filters.get_by_label("Status").select_option("failed")
    expect(page).to_have_url(re.compile(r"status=failed"))
    expect(page.locator("#run-table tbody tr")).to_have_count(failed)
    assert all(row.endswith("· failed") for row in shown_rows(page))
    passed = sum(1 for status in statuses.values() if status == "passed")
    filters.get_by_label("Status").select_option("passed")
    expect(page).to_have_url(re.compile(r"status=passed"))
    if passed:
        expect(page.locator("#run-table tbody tr")).to_have_count(passed)
    else:
        expect(page.locator("#run-results")).to_contain_text("No test runs match these filters")

    filters.get_by_label("Status").select_option("")
    expect(page.locator("#run-table tbody tr")).to_have_count(3)
    tomorrow = (datetime.date.today() + datetime.timedelta(days=2)).isoformat()
    filters.get_by_label("From").fill(tomorrow)
    expect(page.locator("#run-results")).to_contain_text("No test runs match these filters")
    filters.get_by_label("From").fill("")
    expect(page.locator("#run-table tbody tr")).to_have_count(3)
    assert sorted(r.split(" · ")[0] for r in shown_rows(page)) == [
        "Failing payment", "Lead to CRM", "Lead to CRM"
    ]  # fmt: skip

    page.locator("h1").click()  # no focused field in the picture
    shoot(page, screenshot, "history")

    # The filters live in the URL: a reload shows the same rows.
    filters.get_by_label("Workflow").select_option(label="Lead to CRM")
    expect(page.locator("#run-table tbody tr")).to_have_count(2)
    page.reload()
    expect(page.locator("#run-filters select[name=workflow]")).to_have_value("lead-to-crm")
    expect(page.locator("#run-table tbody tr")).to_have_count(2)


def test_reloading_after_creating_a_token_does_not_create_another(
    login: Callable[..., Any], screenshot: Callable[..., None]
) -> None:
    page = login()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/tokens/")
    page.get_by_label("Name").fill("CI pipeline")
    page.get_by_role("button", name="Create token").click()
    page.wait_for_url("**/tokens/")
    shown = page.locator("#new-token")
    expect(shown).to_be_visible()
    value = shown.inner_text().strip()
    assert ApiToken.objects.filter(user__username="demo", name="CI pipeline").count() == 1

    copy = shown.locator("xpath=following-sibling::button")
    expect(copy).to_have_text("Copy")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == value
    expect(copy).to_have_text("Copy")
    shoot(page, screenshot, "tokens-new")

    page.reload()
    expect(page.get_by_role("cell", name="CI pipeline")).to_have_count(1)
    expect(page.locator("#new-token")).to_have_count(0)  # shown once only
    assert ApiToken.objects.filter(user__username="demo", name="CI pipeline").count() == 1


def test_a_step_interrupted_by_cancel_shows_grey_cancelled(login: Callable[..., Any]) -> None:
    user = User.objects.get(username="demo")
    document = {
        "schema_version": 1,
        "name": "Slow lane",
        "slug": "slow-lane",
        "nodes": [
            {"id": "hook", "type": "webhook_trigger"},
            {"id": "wait", "type": "delay", "label": "Wait a while",
             "config": {"duration_ms": 20_000}},
            {"id": "done", "type": "terminate", "config": {"status": "success"}},
        ],
        "edges": [{"source": "hook", "target": "wait"}, {"source": "wait", "target": "done"}],
    }  # fmt: skip
    workflow = make_workflow(personal_project(user), document, user)
    run = start_run(workflow, user, honor_delays=True)

    page = login()
    page.goto(f"/test-runs/{run.pk}/")
    step = page.locator("#step-wait")
    expect(step).to_have_attribute("data-status", "running")
    page.locator("#btn-cancel").click()
    expect(page.locator("#run-status")).to_have_text("cancelled")
    expect(step).to_have_attribute("data-status", "cancelled")
    badge = step.locator("summary .badge")
    expect(badge).to_have_text("cancelled")
    expect(badge).to_have_class(re.compile(r"\bst-cancelled\b"))

    page.reload()
    expect(step.locator("summary .badge")).to_have_text("cancelled")
    expect(page.locator("svg.graph g.node[data-node='wait']")).to_have_attribute(
        "data-status", "cancelled"
    )
    # Grey, not the failed red.
    colour = step.locator(".sicon").evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(226, 232, 240)"
    # What is stored stays what happened.
    assert run.steps.get(node_id="wait").status == "failed"


def test_icons_are_drawn_not_emoji(login: Callable[..., Any]) -> None:
    page = login()
    page.goto("/workflows/order-fulfilment/")
    delay = page.locator("svg.graph g.node[data-node='settle']")
    expect(delay.locator(".icon-svg")).to_have_count(1)
    html = page.content()
    assert not [emoji for emoji in EMOJI if emoji in html]

    page.get_by_role("button", name="Start test run").click()
    page.wait_for_url(re.compile(r"/test-runs/[0-9a-f-]{36}/$"))
    expect(page.locator("#run-status")).to_have_text("passed", timeout=20_000)
    page.reload()
    step = page.locator("#step-request")
    step.locator(":scope > summary").click()
    test_step = step.locator("summary", has_text="Test this step")
    expect(test_step).to_be_visible()
    expect(test_step.locator("svg.ico")).to_have_count(1)
    pin = step.get_by_role("button", name="Pin this output & re-run")
    expect(pin).to_be_visible()
    expect(pin.locator("svg.ico")).to_have_count(1)
    html = page.content()
    assert not [emoji for emoji in EMOJI if emoji in html]


def test_the_payload_error_banner_goes_when_the_json_is_fixed(login: Callable[..., Any]) -> None:
    page = login()
    page.goto("/workflows/lead-to-crm/")
    payload = page.locator("#payload")
    good = payload.input_value()
    payload.fill('{"email": "a@b.c",')
    page.get_by_role("button", name="Start test run").click()
    expect(page.locator("#form-problems")).to_contain_text("payload")
    page.locator("#payload").fill(good)
    expect(page.locator("#form-problems")).to_have_count(0)
    expect(page.locator("#payload-error")).to_have_text("")
    assert TestRun.objects.count() == 0
