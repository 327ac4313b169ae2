"""Step-by-step debugging in Chromium: Next step, breakpoints on the graph, pin and re-run."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from testruns.models import TestRun

LEAD_STEPS = ["hook", "map", "create", "hot", "notify", "done"]


def start_from_form(page: Any, slug: str, *, step_mode: bool) -> None:
    page.goto(f"/workflows/{slug}/")
    if step_mode:
        page.get_by_label("Step-by-step").check()
    page.get_by_role("button", name="Start test run").click()
    page.wait_for_url(re.compile(r"/test-runs/[0-9a-f-]{36}/$"))


def rerun_from_step_button(page: Any, node_id: str, button: str) -> None:
    """Finish a Lead to CRM run, open one step, press one of its re-run buttons, and wait
    for the new run to pass."""
    start_from_form(page, "lead-to-crm", step_mode=False)
    expect(page.locator("#run-status")).to_have_text("passed")
    first = page.url
    page.locator(f"#step-{node_id} > summary").click()
    page.locator(f"#step-{node_id}").get_by_role("button", name=button).click()
    page.wait_for_url(lambda url: url != first)
    expect(page.locator("#run-status")).to_have_text("passed")


def test_step_through_one_step_at_a_time(
    login: Callable[..., Any], screenshot: Callable[..., None]
) -> None:
    page = login()
    start_from_form(page, "lead-to-crm", step_mode=True)
    expect(page.locator("#run-status")).to_have_text("paused")
    expect(page.locator("#next-step")).to_contain_text("Lead form submitted")
    for index, node in enumerate(LEAD_STEPS):
        # Only the steps already advanced have run; this one is highlighted as next.
        for done in LEAD_STEPS[:index]:
            expect(page.locator(f"#step-{done}")).to_have_attribute("data-status", "succeeded")
        expect(page.locator(f"#step-{node}")).to_have_attribute("data-status", "pending")
        expect(page.locator(f"g.node[data-node='{node}']")).to_have_class(re.compile("s-next"))
        if node == "create":
            # The resolved input of the next step is shown before it runs.
            expect(page.locator("#next-input")).to_have_value(re.compile('"email"'))
            screenshot(page, "run-paused")
        page.get_by_role("button", name="Next step").click()
        expect(page.locator(f"#step-{node}")).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#run-status")).to_have_text("passed")
    run = TestRun.objects.get()
    assert run.steps.filter(status="succeeded").count() == len(LEAD_STEPS)


def test_breakpoint_set_on_the_graph_pauses_a_running_run(login: Callable[..., Any]) -> None:
    page = login()
    start_from_form(page, "lead-to-crm", step_mode=True)
    expect(page.locator("#run-status")).to_have_text("paused")
    page.locator("g.node[data-node='hot']").click()
    expect(page.locator("g.node[data-node='hot'] circle.bp")).to_be_visible()
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#next-step")).to_contain_text("Hot lead")
    expect(page.locator("#run-status")).to_have_text("paused")
    expect(page.locator("#step-create")).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#step-hot")).to_have_attribute("data-status", "pending")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#run-status")).to_have_text("passed")


def test_pin_an_output_and_rerun_makes_the_step_mocked(login: Callable[..., Any]) -> None:
    page = login()
    rerun_from_step_button(page, "create", "Pin this output")
    expect(page.locator("#step-create")).to_have_attribute("data-status", "mocked")
    expect(page.locator("#step-create .tag-mock")).to_be_visible()
    newest = TestRun.objects.order_by("-created_at").first()
    assert newest is not None
    assert "create" in newest.mocks
    assert newest.steps.get(node_id="create").mocked


def test_rerun_from_a_step_reuses_the_earlier_ones(login: Callable[..., Any]) -> None:
    page = login()
    rerun_from_step_button(page, "hot", "Re-run from here")
    for reused in ("hook", "map", "create"):
        expect(page.locator(f"#step-{reused} .tag-reused")).to_be_visible()
    expect(page.locator("#run-header")).to_contain_text("from step hot")


def test_compare_a_rerun_with_its_source(
    login: Callable[..., Any], screenshot: Callable[..., None]
) -> None:
    page = login()
    rerun_from_step_button(page, "create", "Pin this output")
    page.get_by_role("link", name="Compare with source").click()
    steps = page.locator("#compare-steps")
    expect(steps.locator("tr[data-step='create'] td").nth(2)).to_contain_text("mocked")
    expect(steps.locator("tr[data-step='create'] td").nth(1)).to_contain_text("succeeded")
    expect(page.locator("#compare-parameters tr.changed")).to_contain_text("mocks")
    screenshot(page, "compare")

    # The same comparison, chosen from history.
    page.goto("/test-runs/")
    for box in page.locator("#run-table input[name=run]").all()[:2]:
        box.check()
    page.locator("#compare-button").click()
    expect(page.locator("#compare-steps")).to_be_visible()


def test_run_to_here_shows_on_pending_steps_only_while_paused(login: Callable[..., Any]) -> None:
    page = login()
    start_from_form(page, "lead-to-crm", step_mode=True)
    expect(page.locator("#run-status")).to_have_text("paused")
    page.locator("#step-notify > summary").click()
    run_to_here = page.locator("#step-notify").get_by_role("button", name="Run to here")
    expect(run_to_here).to_be_visible()
    page.get_by_role("button", name="Next step").click()
    expect(page.locator("#step-hook")).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#run-status")).to_have_text("paused")
    expect(run_to_here).to_be_visible()  # paused again: the button is back
    run_to_here.click()
    expect(page.locator("#step-create")).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#run-status")).to_have_text("paused")
    expect(page.locator("#next-step")).to_contain_text("Tell #sales about it")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#run-status")).to_have_text("passed")
    expect(page.get_by_role("button", name="Run to here")).to_have_count(0)
