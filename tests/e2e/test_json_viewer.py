"""The run page's JSON viewer and Result card, as a user in Chromium sees them: a failed HTTP
step opens with its Request and Response as trees (JSON bodies parsed), search narrows a tree
to its matches, "path" copies a JMESPath expression, the opened JSON stays inside its card on
a desktop and on a phone, and the Result card appears when a run finishes."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from playwright.sync_api import expect

from meshhook.demo import sample_for
from meshhook.models import Workflow
from testruns.models import TestRun
from tests.factories import start_run

ROOT = Path(__file__).resolve().parents[2]
# The pictures go to test-artifacts/; DOCS_SCREENSHOTS=1 refreshes the ones docs/ shows.
SCREENSHOTS = ROOT / (
    "docs/screenshots" if os.environ.get("DOCS_SCREENSHOTS") else "test-artifacts"
)


def order_run(**options: Any) -> TestRun:
    """A run of the demo's Order fulfilment with its sample order; its SMS step fails (the
    provider answers 503) and is tolerated."""
    sample = sample_for("order-fulfilment")
    workflow = Workflow.objects.get(slug="order-fulfilment")
    user = User.objects.get(username="demo")
    return start_run(workflow, user, payload=sample.payload, headers=sample.headers, **options)


def wait_for(run: TestRun, *statuses: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while TestRun.objects.get(pk=run.pk).status not in statuses:
        assert time.monotonic() < deadline, f"the run did not become {statuses}"
        time.sleep(0.05)


def clipboard(page: Any) -> str:
    text: str = page.evaluate("navigator.clipboard.readText()")
    return text


def inside(inner: dict[str, float], outer: dict[str, float]) -> bool:
    return (
        inner["x"] >= outer["x"] - 0.5
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 0.5
    )


def test_a_failed_http_step_opens_as_trees_with_search_and_copy_path(
    login: Callable[..., Any], page: Any, console: str
) -> None:
    run = order_run()
    wait_for(run, "passed", "failed", "error")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=console)
    login()
    page.goto(f"/test-runs/{run.id}/")

    sms = page.locator("#step-sms")
    expect(sms.locator("summary .badge")).to_have_text("tolerated")
    expect(page.locator("#step-ship summary .badge")).to_have_text("succeeded")
    # The failed step is open, and so is its last HTTP attempt, Request and Response named.
    attempt = sms.locator(".http-exchange").last
    expect(attempt).to_have_attribute("open", "")
    expect(attempt.locator("summary")).to_contain_text("POST http://")
    request = attempt.locator(".json-block").filter(
        has=page.get_by_role("heading", name=re.compile(r"^Request"))
    )
    response = attempt.locator(".json-block").filter(
        has=page.get_by_role("heading", name=re.compile(r"^Response"))
    )
    expect(request.get_by_role("heading")).to_contain_text("body parsed from JSON text")

    # The JSON body is a tree, not an escaped string: its keys are nodes.
    tree = request.get_by_role("tree")
    expect(tree.locator('[data-path="body.message"] .jt-v').first).to_have_text(
        '"Your order ORD-1042 is on its way."'
    )
    expect(tree).not_to_contain_text('\\"message\\"')

    # Search narrows the tree to the way to each match.
    search = request.get_by_role("searchbox")
    search.fill("on its way")
    expect(request.locator(".jt-count")).to_have_text("1 match")
    expect(tree.locator(".jt-hit")).to_have_count(1)
    expect(tree.locator('[data-path="url"]')).to_have_count(0)
    expect(tree.locator("mark")).to_have_text("on its way")

    # "path" copies the JMESPath of the node; a key that is not an identifier is quoted.
    message_row = tree.locator('[data-path="body.message"] > .jt-row')
    message_row.hover()  # the row's copy buttons show on hover
    message_row.get_by_role("button", name="Copy path body.message").click()
    expect(request.get_by_role("status")).to_have_text("Copied path body.message")
    assert clipboard(page) == "body.message"

    search.fill("idempotency")
    expect(request.locator(".jt-count")).to_have_text("1 match")
    key_row = tree.locator('[data-path="headers.\\"Idempotency-Key\\""] > .jt-row')
    key_row.hover()
    key_row.get_by_role("button", name=re.compile("^Copy path")).click()
    expect(request.get_by_role("status")).to_have_text('Copied path headers."Idempotency-Key"')
    assert clipboard(page) == 'headers."Idempotency-Key"'
    search.fill("")
    expect(tree.locator('[data-path="url"]')).to_have_count(1)

    # By keyboard: arrows move through the rows and open or close them, Tab reaches the
    # focused row's copy buttons.
    headers = tree.locator('[data-path="headers"]')
    headers.locator("> .jt-row").focus()
    page.keyboard.press("ArrowLeft")
    expect(headers).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("ArrowRight")
    expect(headers).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("ArrowDown")
    # The first header, whichever it is: PostgreSQL's jsonb keeps keys shortest first,
    # SQLite in the order they were written.
    first = headers.locator("[data-path]").first
    first_path = first.get_attribute("data-path")
    assert first_path is not None
    assert first_path.startswith("headers.")
    expect(page.locator(":focus")).to_contain_text(first_path.removeprefix("headers.").strip('"'))
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_accessible_name(f"Copy path {first_path}")
    page.keyboard.press("Enter")
    expect(request.get_by_role("status")).to_have_text(f"Copied path {first_path}")

    # The whole response, its body parsed, with one button.
    response.get_by_role("button", name="Copy the whole value as JSON").click()
    expect(response.get_by_role("status")).to_have_text("Copied the whole value")
    copied = json.loads(clipboard(page))
    assert copied["status"] == 503
    assert copied["body"] == {"status": 503}

    # A closed step builds its tree when it is opened.
    reserve = page.locator("#step-reserve")
    expect(reserve.locator(".jt")).to_have_count(0)
    reserve.locator("summary").first.click()
    output = reserve.locator(".json-block").filter(
        has=page.get_by_role("heading", name="Output", exact=True)
    )
    expect(output.get_by_role("tree")).to_be_visible()
    expect(output.locator('[data-path="data.calls"] .jt-v')).to_have_text("3")

    # The opened JSON stays inside its card, on a desktop and on a phone.
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        card = page.locator("#run-steps").bounding_box()
        assert card["x"] >= 0
        assert card["x"] + card["width"] <= width + 0.5
        for block in sms.locator(".jt").all():
            assert inside(block.bounding_box(), card), f"JSON wider than its card at {width} px"
        assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_the_result_card_appears_when_the_run_finishes(
    login: Callable[..., Any], page: Any, console: str
) -> None:
    run = order_run(mode="step")
    wait_for(run, "paused")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=console)
    login()
    page.goto(f"/test-runs/{run.id}/")
    card = page.locator("#result-card")
    expect(card).to_be_hidden()
    expect(page.locator("#live-indicator")).to_have_text("Live")

    page.get_by_role("button", name="Continue").click()
    expect(card).to_be_visible(timeout=30_000)
    expect(card.locator(".card-head .badge")).to_have_text("passed")
    expect(card.locator("#result-line")).to_contain_text(
        "Test run passed: Order ORD-1042 is on its way"
    )
    expect(card.locator("#result-line")).to_contain_text("Ended by Order fulfilled")
    expect(card.locator("#result-tolerated")).to_contain_text(
        "Text the customer (provider down, tolerated)"
    )
    # The final output in the same viewer, built from the pushed fragment.
    output = card.get_by_role("tree")
    expect(output.locator('[data-path="order_id"] .jt-v')).to_have_text('"ORD-1042"')

    # The rows the finish re-drew: the tolerated step is marked, and its JSON is a tree.
    expect(page.locator("#step-sms summary .badge")).to_have_text("tolerated")
    expect(page.locator("#step-sms .jt").first).to_be_visible()
    # A pushed row that was closed loads its details when opened, as trees too.
    ship = page.locator("#step-ship")
    ship.locator("summary").first.click()
    shipped = ship.locator(".json-block").filter(
        has=page.get_by_role("heading", name="Output", exact=True)
    )
    expect(shipped.locator('[data-path="data.json.service"] .jt-v')).to_have_text('"express"')
    ship.locator("summary").first.click()

    # The pictures for the docs: the failed HTTP step open, the Result card above.
    page.get_by_role("heading", name="Result").click()  # nothing focused in the picture
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SCREENSHOTS / f"run-json-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1440, "height": 1000})

    service_row = output.locator('[data-path="service"] > .jt-row')
    service_row.hover()
    service_row.get_by_role("button", name="Copy path service").click()
    expect(card.get_by_role("status")).to_have_text("Copied path service")
    assert clipboard(page) == "service"


def test_on_a_phone_a_tapped_row_offers_its_copy_buttons(browser: Any, console: str) -> None:
    """A touch screen has no hover: the row the user taps shows "path" and "value"."""
    run = order_run()
    wait_for(run, "passed", "failed", "error")
    context = browser.new_context(
        base_url=console, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=console)
    try:
        page = context.new_page()
        page.goto("/login/")
        page.get_by_label("Username").fill("demo")
        page.get_by_label("Password").fill("demo")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/workflows/")
        page.goto(f"/test-runs/{run.id}/")
        output = page.locator("#result-card").get_by_role("tree")
        row = output.locator('[data-path="order_id"] > .jt-row')
        copy_path = row.get_by_role("button", name="Copy path order_id")
        expect(copy_path).to_be_hidden()
        row.locator(".jt-v").tap()
        expect(copy_path).to_be_visible()
        copy_path.tap()
        expect(page.locator("#result-card").get_by_role("status")).to_have_text(
            "Copied path order_id"
        )
        assert clipboard(page) == "order_id"
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
    finally:
        context.close()
