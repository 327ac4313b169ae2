"""The workflow graph in Chromium: loop bodies in a frame, the path a run took, and the
keyboard: Tab to a node, Enter opens its step (finished run) or toggles its breakpoint
(step-mode run). Screenshots of each state, light and dark, go under test-artifacts/."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from playwright.sync_api import expect

from meshhook.models import Workflow
from testruns.models import TestRun
from tests.factories import make_workflow, personal_project, start_run

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LARGE_ORDER = {"order": "A-1001", "lines": [{"sku": "kettle", "qty": 1}, {"sku": "mug", "qty": 4},
                                              {"sku": "tea", "qty": 2}]}  # fmt: skip

# A loop (with a two-step body) and a branch: large orders go to a manager, whose
# approval service is down (the sandbox answers 502), so those runs fail.
ORDER_TRIAGE: dict[str, Any] = {
    "schema_version": 1,
    "name": "Order triage",
    "slug": "order-triage",
    "nodes": [
        {"id": "hook", "type": "webhook_trigger", "label": "Order received"},
        {"id": "lines", "type": "transform", "label": "Pick the order lines",
         "config": {"expression": "body.lines"}},
        {"id": "each", "type": "loop", "label": "For each order line",
         "config": {"items": "@", "max_items": 20}},
        {"id": "price", "type": "transform", "label": "Look up the price of the line",
         "parent": "each", "config": {"template": {"sku": "{{item.sku}}", "qty": "{{item.qty}}"}}},
        {"id": "stock", "type": "transform", "label": "Check stock", "parent": "each",
         "config": {"expression": "{sku: sku, in_stock: `true`}"}},
        {"id": "large", "type": "branch", "label": "Large order? (more than two lines)",
         "input": "steps.lines.output", "config": {"condition": "length(@) > `2`"}},
        {"id": "approve", "type": "http_call", "label": "Ask a manager to approve it",
         "config": {"method": "POST", "url": "{{env.SANDBOX_URL}}/status/502"},
         "retry": {"max_attempts": 1}, "timeout_ms": 5000},
        {"id": "ship", "type": "transform", "label": "Book the shipment",
         "config": {"expression": "{booked: `true`}"}},
        {"id": "done", "type": "terminate", "label": "Order handled",
         "config": {"status": "success", "reason": "handled"}},
    ],
    "edges": [
        {"source": "hook", "target": "lines"},
        {"source": "lines", "target": "each"},
        {"source": "price", "target": "stock"},
        {"source": "each", "target": "large"},
        {"source": "large", "target": "approve", "when": "true"},
        {"source": "large", "target": "ship", "when": "false"},
        {"source": "approve", "target": "done"},
        {"source": "ship", "target": "done"},
    ],
}  # fmt: skip


def order_triage() -> tuple[Workflow, User]:
    user = User.objects.get(username="demo")
    return make_workflow(personal_project(user), ORDER_TRIAGE, user=user), user


def wait_for_status(run: TestRun, *statuses: str, timeout: float = 30) -> TestRun:
    deadline = time.monotonic() + timeout
    while (current := TestRun.objects.get(pk=run.pk)).status not in statuses:
        assert time.monotonic() < deadline, f"the run stayed {current.status}"
        time.sleep(0.05)
    return current


def whole(page: Any, width: int, path: Path) -> None:
    """The whole page at `width`, laid out at that width first."""
    page.set_viewport_size({"width": width, "height": 900})
    height = int(page.evaluate("document.documentElement.scrollHeight"))
    page.set_viewport_size({"width": width, "height": height})
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path))


def shots(page: Any, name: str, *, dark: bool = False, mobile: bool = True) -> None:
    """The page at 1440 px and at 390 px wide, whole, under test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.emulate_media(color_scheme="dark" if dark else "light")
    whole(page, 1440, ARTIFACTS / f"{name}-1440.png")
    page.set_viewport_size({"width": 1440, "height": 900})
    page.locator("svg.graph").first.screenshot(path=str(ARTIFACTS / f"{name}-graph.png"))
    if mobile:
        whole(page, 390, ARTIFACTS / f"{name}-390.png")
        page.set_viewport_size({"width": 390, "height": 844})
        card = page.locator(".card:has(svg.graph)").first
        card.screenshot(path=str(ARTIFACTS / f"{name}-390-graph.png"))
    page.set_viewport_size({"width": 1440, "height": 1000})
    page.emulate_media(color_scheme="light")


def tab_to(page: Any, selector: str, *, limit: int = 80) -> None:
    """Press Tab from the top of the page until `selector` has the focus."""
    page.locator("body").focus()
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_workflow_page_draws_the_loop_body_in_a_frame(login: Callable[..., Any]) -> None:
    workflow, _ = order_triage()
    page = login()
    page.goto(f"/workflows/{workflow.slug}/?project={workflow.project.slug}")
    graph = page.locator("svg.graph")
    frame = graph.locator("g.loop-frame[data-loop='each']")
    expect(frame).to_have_count(1)
    expect(frame.locator(".frame-title")).to_contain_text("each item of")
    box = frame.locator("rect").bounding_box()
    for body in ("price", "stock"):
        node = graph.locator(f"g.node[data-node='{body}'] rect.box").bounding_box()
        assert box["x"] <= node["x"]
        assert node["x"] + node["width"] <= box["x"] + box["width"]
        assert box["y"] <= node["y"]
        assert node["y"] + node["height"] <= box["y"] + box["height"]
    for outside in ("each", "large", "done"):
        node = graph.locator(f"g.node[data-node='{outside}'] rect.box").bounding_box()
        assert node["y"] + node["height"] <= box["y"], outside
    # A long label wraps onto a second line instead of being cut.
    price = graph.locator("g.node[data-node='price'] text.label")
    expect(price).to_have_count(2)
    assert "".join(price.all_text_contents()).replace(" ", "") == "Lookupthepriceoftheline"
    page.locator("h1").click()
    shots(page, "workflow")


def test_enter_on_a_node_of_a_finished_run_opens_its_step(login: Callable[..., Any]) -> None:
    workflow, user = order_triage()
    run = wait_for_status(start_run(workflow, user, payload=LARGE_ORDER), "failed")
    page = login()
    page.goto(f"/test-runs/{run.id}/")
    expect(page.locator("#run-status")).to_have_text("failed")
    graph = page.locator("#run-graph svg.graph")

    # The path the run took is drawn as taken; the branch's other way is not.
    def taken(source: str, target: str) -> Any:
        return graph.locator(f"path.edge.taken[data-source='{source}'][data-target='{target}']")

    expect(taken("large", "approve")).to_have_count(1)
    expect(taken("large", "ship")).to_have_count(0)
    expect(taken("each", "price")).to_have_count(1)
    # Status in words and as an icon, not by colour alone; a duration on each node that ran.
    approve = graph.locator("a.step-link[data-open-step='approve']")
    words = f"Ask a manager to approve it, HTTP call, failed, {_duration(run, 'approve')}"
    expect(approve).to_have_attribute("aria-label", f"{words}. Open the step")
    expect(approve.locator(".status-icon.st-failed path")).to_have_count(1)
    expect(graph.locator("g.node[data-node='ship'] .status-icon.st-skipped")).to_have_count(1)
    lines = graph.locator("g.node[data-node='lines'] .type .dur")
    expect(lines).to_have_text(_duration(run, "lines"))

    shots(page, "run-failed")
    shots(page, "run-dark", dark=True, mobile=False)
    expect(page.locator("#step-lines")).not_to_have_attribute("open", "")
    tab_to(page, "a.step-link[data-open-step='lines']")
    page.keyboard.press("Enter")
    expect(page.locator("#step-lines")).to_have_attribute("open", "")
    expect(page.locator("#step-lines > summary")).to_be_focused()
    expect(page.locator("#step-lines")).to_be_in_viewport()

    # A loop body's node opens its loop's items.
    graph.locator("a.step-link[data-open-step='stock']").click()
    expect(page.locator("#loop-each")).to_have_attribute("open", "")


def test_enter_on_a_node_of_a_step_mode_run_toggles_its_breakpoint(
    login: Callable[..., Any],
) -> None:
    workflow, user = order_triage()
    run = wait_for_status(start_run(workflow, user, payload=LARGE_ORDER, mode="step"), "paused")
    page = login()
    page.goto(f"/test-runs/{run.id}/")
    expect(page.locator("#run-status")).to_have_text("paused")
    for _ in range(2):  # the trigger and the first transform
        before = TestRun.objects.get(pk=run.pk).paused_before
        page.get_by_role("button", name="Next step").click()
        expect(page.locator(f"#step-{before}")).to_have_attribute("data-status", "succeeded")
    graph = page.locator("#run-graph svg.graph")
    expect(graph.locator("g.node[data-node='each']")).to_have_class(re.compile("s-next"))

    node = "g.node[data-node='large']"
    expect(graph.locator(node)).to_have_attribute("aria-pressed", "false")
    tab_to(page, f"#run-graph {node}")
    page.keyboard.press("Enter")
    expect(graph.locator(node)).to_have_attribute("aria-pressed", "true")
    expect(graph.locator(f"{node} circle.bp")).to_be_visible()
    # The graph was drawn again by the live view; the node keeps the focus.
    expect(graph.locator(node)).to_be_focused()
    assert TestRun.objects.get(pk=run.pk).breakpoints == ["large"]

    page.keyboard.press(" ")
    expect(graph.locator(node)).to_have_attribute("aria-pressed", "false")
    assert TestRun.objects.get(pk=run.pk).breakpoints == []
    page.keyboard.press("Enter")
    expect(graph.locator(node)).to_have_attribute("aria-pressed", "true")
    page.locator("h1").click()
    shots(page, "run-step-mode")


def _duration(run: TestRun, node_id: str) -> str:
    from meshhook.graphlayout import format_duration

    return format_duration(run.steps.get(node_id=node_id, iteration__isnull=True).duration_ms)


BROKEN = '{\n  "schema_version": 1,\n  "name": "x"\n  "slug": "lead-flow"\n}'


def caret(page: Any) -> int:
    return int(page.evaluate("document.getElementById('definition').selectionStart"))


def test_the_editor_puts_the_caret_on_a_json_syntax_error(login: Callable[..., Any]) -> None:
    """Not the graph, but the same pass over the console: the editor's JSON errors say
    where they are, and Format and Save both take the caret there."""
    page = login()
    page.goto("/workflows/lead-to-crm/edit/")
    editor = page.locator("#definition")
    editor.fill(BROKEN)
    at = BROKEN.index('"slug"')  # line 4, column 3
    page.evaluate("document.getElementById('definition').setSelectionRange(0, 0)")

    page.get_by_role("button", name="Format").click()
    expect(page.locator("#definition-error")).to_contain_text("line 4, column 3")
    expect(editor).to_be_focused()
    assert caret(page) == at

    page.evaluate("document.getElementById('definition').setSelectionRange(0, 0)")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#problems")).to_contain_text("line 4, column 3")
    expect(page.locator("#problems li")).to_have_count(1)
    # The caret moves once htmx has settled the answer.
    page.wait_for_function(
        "at => document.getElementById('definition').selectionStart === at", arg=at
    )
    expect(page.locator("#definition-error")).to_have_text("")
