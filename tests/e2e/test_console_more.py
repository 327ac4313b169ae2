"""More console fixes, as a user in Chromium sees them: the timing waterfall of a run
stepped through by hand, large payloads in the Test-run form, leaving the payload editor
from the keyboard, and pictures of a running run and of the form."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from playwright.sync_api import expect

from tests.factories import make_workflow, personal_project

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DELAYS = ["wait1", "wait2", "wait3"]
# How long the user looks at the paused run before each Next step: long next to the steps
# themselves, so a chart with the pauses on its axis would draw them as slivers.
THINK_MS = 1_000


def paced_workflow() -> None:
    """hook → three 150 ms delays → done, in the demo user's project."""
    nodes: list[dict[str, Any]] = [{"id": "hook", "type": "webhook_trigger", "label": "Hook"}]
    nodes += [
        {"id": node, "type": "delay", "label": f"Wait {i + 1}", "config": {"duration_ms": 150}}
        for i, node in enumerate(DELAYS)
    ]
    nodes.append({"id": "done", "type": "terminate", "config": {"status": "success"}})
    ids = [node["id"] for node in nodes]
    document = {
        "schema_version": 1,
        "name": "Paced",
        "slug": "paced",
        "nodes": nodes,
        "edges": [{"source": a, "target": b} for a, b in itertools.pairwise(ids)],
    }
    user = User.objects.get(username="demo")
    make_workflow(personal_project(user), document, user=user)


def start_step_mode(page: Any, slug: str, *, honour_delays: bool = False) -> None:
    page.goto(f"/workflows/{slug}/test-run/")
    page.get_by_label("Step-by-step").check()
    if honour_delays:
        page.get_by_label("Honour delays").check()
    page.get_by_role("button", name="Start test run").click()
    page.wait_for_url(re.compile(r"/test-runs/[0-9a-f-]{36}/$"))
    expect(page.locator("#run-status")).to_have_text("paused")


def next_step(page: Any, node: str) -> None:
    page.get_by_role("button", name="Next step").click()
    expect(page.locator(f"#step-{node}")).to_have_attribute("data-status", "succeeded")


def bar_fractions(page: Any) -> dict[str, tuple[float, float]]:
    """Each bar's start and width as fractions of the chart, measured on screen: the chart
    runs from the first tick line to the last."""
    grid = page.locator("#run-waterfall line.wf-grid")
    left = grid.first.bounding_box()["x"]
    width = grid.last.bounding_box()["x"] - left
    shown = {}
    for bar in page.locator("#run-waterfall rect.wf-bar").all():
        box = bar.bounding_box()
        label = bar.locator("title").text_content().split(":")[0]
        shown[label] = ((box["x"] - left) / width, box["width"] / width)
    return shown


def test_the_waterfall_of_a_stepped_run_leaves_the_pauses_out(login: Callable[..., Any]) -> None:
    paced_workflow()
    page = login()
    start_step_mode(page, "paced", honour_delays=True)
    next_step(page, "hook")
    for node in DELAYS:
        page.wait_for_timeout(THINK_MS)  # the user reads the paused run (not an await)
        next_step(page, node)
    expect(page.locator("#run-waterfall rect.wf-bar")).to_have_count(4)
    expect(page.locator("#waterfall-summary")).to_contain_text("paused or between steps left out")

    bars = bar_fractions(page)
    waits = [bars[f"Wait {i}"] for i in (1, 2, 3)]
    # Each 150 ms step is a real share of the chart (about a quarter), not a sliver next
    # to three seconds of pauses, and they follow one another with no gap between them.
    for start, width in waits:
        assert width >= 0.15, bars
        assert start + width <= 1.01, bars
    for (start, width), (next_start, _) in itertools.pairwise(waits):
        assert abs(next_start - (start + width)) < 0.03, bars
    assert bars["Hook"][1] > 0  # the instant trigger still has its mark
    durations = page.locator("#run-waterfall text.wf-dur").all_text_contents()
    assert [int(d.split()[0]) >= 150 for d in durations[1:]] == [True] * 3, durations

    labels = page.locator("#run-waterfall text.wf-time").all_text_contents()
    assert len(labels) == len(set(labels)) >= 3, labels


def big_payload(size: int) -> str:
    """A compact JSON payload of about `size` bytes that the Lead to CRM workflow accepts:
    the lead's fields and, as a queue relays a webhook, the original body as a JSON string
    (its quotes and brackets are what form encoding sends as two to three times the bytes)."""
    lead = {"email": "ada@example.com", "name": "Ada", "company": "Acme", "score": 91}

    def build(count: int) -> str:
        lines = [{"n": 100_000 + i, "t": ["a", "b", "c"]} for i in range(count)]
        body = json.dumps(lines, separators=(",", ":"))
        return json.dumps({**lead, "source": "queue", "raw_body": body}, separators=(",", ":"))

    return build(1_000 * size // len(build(1_000)))


def test_a_900_kb_payload_goes_through_the_form(login: Callable[..., Any]) -> None:
    text = big_payload(900_000)
    assert 850_000 < len(text) < 920_000
    page = login()
    page.goto("/workflows/lead-to-crm/test-run/")
    expect(page.locator("#payload-help")).to_contain_text("1 MB (1,000,000 bytes)")
    page.locator("#payload").fill(text)
    expect(page.locator("#payload-error")).to_have_text("")
    page.get_by_role("button", name="Start test run").click()
    page.wait_for_url(re.compile(r"/test-runs/[0-9a-f-]{36}/$"))
    expect(page.locator("#run-status")).to_have_text("passed")


def test_a_payload_over_the_limit_is_refused_inline_and_kept(login: Callable[..., Any]) -> None:
    text = big_payload(1_200_000)
    page = login()
    page.goto("/workflows/lead-to-crm/test-run/")
    page.locator("#payload").fill(text)
    page.get_by_role("button", name="Start test run").click()
    error = page.locator("#payload-error")
    expect(error).to_contain_text(re.compile(r"the limit is 1,000,000 bytes"))
    problems = page.locator("#form-problems")
    expect(problems.locator("code")).to_have_text("payload")
    assert page.url.endswith("/workflows/lead-to-crm/test-run/")
    assert page.locator("#payload").input_value() == text  # as typed, not reformatted
    expect(page.locator("#testrun-form")).to_have_count(1)  # one form, no page inside it


def test_a_payload_too_large_to_send_is_refused_before_sending(login: Callable[..., Any]) -> None:
    text = big_payload(2_500_000)
    page = login()
    page.goto("/workflows/lead-to-crm/test-run/")
    page.locator("#payload").fill(text)
    posts: list[str] = []
    page.on(
        "request", lambda request: posts.append(request.url) if request.method == "POST" else None
    )
    page.get_by_role("button", name="Start test run").click()
    expect(page.locator("#payload-error")).to_contain_text("Too large to send")
    expect(page.locator("#testrun-form ul.problems code")).to_have_text("payload")
    assert posts == []
    assert page.locator("#payload").input_value() == text


def test_an_error_page_is_never_swapped_into_the_form(login: Callable[..., Any]) -> None:
    page = login()
    page.goto("/workflows/lead-to-crm/test-run/")
    typed = '{"email": "ada@example.com", "score": 91}'
    page.locator("#payload").fill(typed)
    # The CSRF cookie gone (another tab logged out and in): Django answers 403 with a page.
    cookies = [c for c in page.context.cookies() if c["name"] != "csrftoken"]
    page.context.clear_cookies()
    page.context.add_cookies(cookies)
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        page.get_by_role("button", name="Start test run").click()
    assert answer.value.status == 403
    banner = page.locator("#testrun-form ul.problems")
    expect(banner).to_contain_text("reload it and try again")
    expect(page.locator("#testrun-form")).to_have_count(1)
    expect(page.locator("#testrun-form h1")).to_have_count(0)
    assert page.locator("#payload").input_value() == typed


def test_esc_then_tab_leaves_the_payload_editor(login: Callable[..., Any]) -> None:
    page = login()
    page.goto("/workflows/lead-to-crm/test-run/")
    expect(page.locator("#payload-help")).to_contain_text("Esc then Tab to leave")
    payload = page.locator("#payload")
    payload.focus()
    page.keyboard.press("Control+Home")
    before = payload.input_value()
    page.keyboard.press("Tab")  # indents, and stays
    assert payload.input_value() == "  " + before
    assert page.evaluate("document.activeElement.id") == "payload"
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    assert payload.input_value() == "  " + before
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "+ Add header"
    # Back in the editor, Tab indents again.
    payload.focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "payload"


def save(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_pictures_of_a_running_run_and_of_the_form(login: Callable[..., Any]) -> None:
    page = login()
    page.set_viewport_size({"width": 1440, "height": 900})
    start_step_mode(page, "lead-to-crm")
    for node in ("hook", "map", "create"):
        next_step(page, node)
    expect(page.locator("#next-step")).to_contain_text("Hot lead")
    expect(page.locator("#run-waterfall rect.wf-bar")).to_have_count(3)
    page.locator("h1").click()
    save(page, "run-running-1440")
    page.locator("#run-waterfall").screenshot(path=str(ARTIFACTS / "timing-1440.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator("#run-status")).to_have_text("paused")
    save(page, "run-running-390")
    page.locator("#run-waterfall").screenshot(path=str(ARTIFACTS / "timing-390.png"))

    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto("/workflows/lead-to-crm/test-run/")
    expect(page.locator("#payload-help")).to_be_visible()
    save(page, "testrun-form-1440")


def test_the_servers_413_lands_on_the_payload_field(login: Callable[..., Any]) -> None:
    """The body limit lowered since the page was loaded: the browser's own check lets the
    form go, the server refuses it unread (413, an HTML page), and the form says why."""
    text = big_payload(2_500_000)
    page = login()
    page.goto("/workflows/lead-to-crm/test-run/")
    page.locator("#payload").fill(text)
    page.locator("#payload").evaluate("el => el.dataset.maxBytes = '10000000'")
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        page.get_by_role("button", name="Start test run").click()
    assert answer.value.status == 413
    expect(page.locator("#payload-error")).to_contain_text("Too large to send")
    expect(page.locator("#testrun-form ul.problems code")).to_have_text("payload")
    expect(page.locator("#testrun-form")).to_have_count(1)
    assert page.locator("#payload").input_value() == text
