"""The run page at real scale in Chromium: a 750-item loop watched while it runs, and the
polling fallback when the socket cannot connect. Screenshots of both go to test-artifacts/."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from playwright.sync_api import expect

from testruns.models import RunEvent, TestRun
from tests.factories import make_workflow, personal_project, start_run
from tests.testruns.big_runs import items, loop_definition

FINAL = 60_000  # ms: 750 items on a loaded 2-core machine
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def paused_loop_run(count: int, *, body: int = 1, slug: str = "order-lines") -> TestRun:
    """A step-mode run of a `count`-item loop, paused before its trigger by the worker."""
    user = User.objects.get(username="demo")
    workflow = make_workflow(personal_project(user), loop_definition(slug, body=body), user)
    run = start_run(workflow, user, payload=items(count), mode="step")
    deadline = time.monotonic() + 30
    while TestRun.objects.get(pk=run.pk).status != "paused":
        assert time.monotonic() < deadline, "the worker did not take the run"
        time.sleep(0.05)
    return run


def shown_seqs(page: Any) -> list[int]:
    return [int(seq) for seq in page.eval_on_selector_all(
        "#run-log .log-line", "lines => lines.map(line => line.dataset.seq)"
    )]  # fmt: skip


def shoot(page: Any, screenshot: Callable[..., None], name: str) -> None:
    """The page at 1440 px (whole) and 390 px wide (its first screen, then its steps)."""
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, name)
    page.set_viewport_size({"width": 390, "height": 844})
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"{name}-mobile.png"))
    page.locator("#run-steps").scroll_into_view_if_needed()
    page.evaluate("document.getElementById('run-steps').scrollIntoView()")
    page.screenshot(path=str(ARTIFACTS / f"{name}-mobile-steps.png"))
    page.set_viewport_size({"width": 1440, "height": 1000})


def stored_seqs(run: TestRun) -> list[int]:
    return list(RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", flat=True))


def test_a_750_item_loop_stays_live_and_ends_on_its_status(
    page: Any, login: Callable[..., Any], screenshot: Callable[..., None]
) -> None:
    run = paused_loop_run(750, body=4)  # 6,000 lines: it runs long enough to watch
    login()
    page.goto(f"/test-runs/{run.id}/")
    page.evaluate("window.__sameDocument = true")
    expect(page.locator("#live-indicator")).to_have_text("Live")
    page.locator("#btn-continue").click()

    # Progress while it runs: the header and the loop's own summary count the items.
    progress = page.locator("#run-loop-progress-each")
    expect(progress).to_contain_text(re.compile(r"[1-9][0-9]*/750 items"), timeout=FINAL)
    # The page answers while lines stream in: sampled at least once (the whole loop may take
    # less than a second), then every 0.1 s while the run is still running.
    lag: list[float] = []
    while not lag or (page.locator("#run-status").inner_text() == "running" and len(lag) < 40):
        started = time.monotonic()
        page.evaluate("() => document.querySelectorAll('#run-log .log-line').length")
        lag.append(time.monotonic() - started)
        if len(lag) == 3:
            shoot(page, screenshot, "big-loop-running")
        time.sleep(0.1)
    assert max(lag) < 2.0, f"the page was unresponsive for {max(lag):.1f} s"

    expect(page.locator("#run-status")).to_have_text("passed", timeout=FINAL)
    expect(page.locator("#live-indicator")).to_have_text("Finished")
    expect(page.locator("#run-duration")).not_to_have_attribute(
        "data-running-since", re.compile(".")
    )
    summary = page.locator("#loop-summary-each")
    expect(summary).to_contain_text("750 items")
    expect(summary).to_contain_text("0 failed")
    assert page.evaluate("window.__sameDocument") is True
    assert shown_seqs(page) == stored_seqs(run)  # every line once, in order, none lost
    assert page.locator("#run-socket[ws-connect]").count() == 0  # the socket is closed

    # Open the loop's items, go to the next page, open one item.
    summary.click()
    expect(page.locator("#step-b0-0")).to_be_visible()
    page.locator("#loop-iterations-each").get_by_role("link", name="Next ›").click()
    item = page.locator("#step-b0-57")
    expect(item).to_be_visible()
    item.locator("summary").click()
    expect(item.locator(".step-body")).to_contain_text("Output")
    expect(item.locator(".step-body pre.json").first).to_contain_text('"n": 57')
    shoot(page, screenshot, "big-loop-finished")


def test_the_page_falls_back_to_polling_and_says_so_when_the_socket_cannot_connect(
    page: Any, login: Callable[..., Any], screenshot: Callable[..., None]
) -> None:
    run = paused_loop_run(150, slug="polled-lines")
    page.route_web_socket(
        re.compile(r".*/ws/test-runs/.*"), lambda ws: ws.close(code=1011, reason="refused")
    )
    login()
    page.goto(f"/test-runs/{run.id}/")
    page.evaluate("window.__sameDocument = true")
    indicator = page.locator("#live-indicator")
    expect(indicator).to_have_text("Live view lost — retrying")
    screenshot(page, "live-view-lost")
    page.locator("#btn-continue").click()  # the run goes on; the page polls its events
    expect(page.locator("#run-status")).to_have_text("passed", timeout=FINAL)
    assert page.evaluate("window.__sameDocument") is True
    expect(indicator).to_have_text("Finished")
    expect(page.locator("#loop-summary-each")).to_contain_text("150 items")
    assert shown_seqs(page) == stored_seqs(run)


def test_when_the_socket_comes_back_it_resumes_from_the_last_line_shown(
    page: Any, login: Callable[..., Any]
) -> None:
    run = paused_loop_run(400, slug="resumed-lines")
    blocked = {"on": True}

    def socket(ws: Any) -> None:
        if blocked["on"]:
            ws.close(code=1011, reason="refused in this test")
        else:
            ws.connect_to_server()

    page.route_web_socket(re.compile(r".*/ws/test-runs/.*"), socket)
    login()
    page.goto(f"/test-runs/{run.id}/")
    indicator = page.locator("#live-indicator")
    expect(indicator).to_have_text("Live view lost — retrying")
    page.locator("#btn-continue").click()
    expect(page.locator("#run-log .log-line[data-node='b0']").first).to_be_attached(timeout=FINAL)
    blocked["on"] = False  # the next reconnect gets through
    expect(indicator).to_have_text(re.compile("Live|Finished"), timeout=30_000)
    expect(page.locator("#run-status")).to_have_text("passed", timeout=FINAL)
    assert shown_seqs(page) == stored_seqs(run)
