"""A test case from start to baseline, as a user in Chromium does it: on a finished run,
"assert" a value of a step's output (saved as a new test case), run the case and read it
fail with expected vs actual, fix the expectation from the failed run, run it and read it
pass; accept that run as the new baseline, change the workflow in the editor, run the case
and read the baseline's difference on the run page."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from playwright.sync_api import expect

from meshhook.models import Workflow
from meshhook.services.workflows import save_definition
from testruns.models import TestRun
from testruns.testcase_models import TestCase
from tests.factories import start_run

ROOT = Path(__file__).resolve().parents[2]
# The pictures go to test-artifacts/; DOCS_SCREENSHOTS=1 refreshes the ones docs/ shows.
SCREENSHOTS = ROOT / (
    "docs/screenshots" if os.environ.get("DOCS_SCREENSHOTS") else "test-artifacts"
)
RUN_PAGE = re.compile(r"/test-runs/([0-9a-f-]{36})/$")


def quote_definition(tier: str) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": "Quote",
        "slug": "quote",
        "nodes": [
            {"id": "hook", "type": "webhook_trigger"},
            {"id": "price", "type": "transform", "label": "Price",
             "config": {"expression": f"body.{{sku: sku, qty: qty, tier: '{tier}'}}"}},
            {"id": "done", "type": "terminate",
             "config": {"status": "success", "reason": "quoted"}},
        ],
        "edges": [{"source": "hook", "target": "price"}, {"source": "price", "target": "done"}],
    }  # fmt: skip


def quote_run() -> TestRun:
    """A run of a new Quote workflow (in the demo project), started as the console does."""
    user = User.objects.get(username="demo")
    project = Workflow.objects.get(slug="order-fulfilment").project
    workflow = save_definition(project, quote_definition("gold"), user=user).workflow
    return start_run(workflow, user, payload={"sku": "A-1", "qty": 3})


def output_tree(page: Any, node: str) -> Any:
    """The Output tree of step `node`, its row opened first."""
    step = page.locator(f"#step-{node}")
    if step.get_attribute("open") is None:
        step.locator(":scope > summary").click()
    block = step.locator(".json-block").filter(has=page.get_by_role("heading", name="Output"))
    return block.get_by_role("tree")


def assert_button(page: Any, node: str, path: str) -> Any:
    row = output_tree(page, node).locator(f'[data-path="{path}"] > .jt-row')
    row.hover()  # a row's buttons show on hover
    return row.get_by_role("button", name=f"Assert the value of {path}")


def run_the_case(page: Any, button: Any) -> str:
    """Click ▶ Run test case; the id of the run whose page opens."""
    before = page.url
    button.click()
    page.wait_for_url(lambda url: bool(RUN_PAGE.search(url)) and url != before)
    match = RUN_PAGE.search(page.url)
    assert match is not None
    return match.group(1)


def test_assert_run_fix_pass_baseline_change(
    login: Callable[..., Any], page: Any, screenshot: Callable[[Any, str], None]
) -> None:
    run = quote_run()
    login()
    page.goto(f"/test-runs/{run.id}/")
    expect(page.locator("#run-status")).to_have_text("passed")

    # 1. "assert" on the quantity the step priced: a prefilled equals assertion.
    assert_button(page, "price", "qty").click()
    form = page.get_by_role("form", name="Assert this value")
    expect(form).to_contain_text("step.output of 'price' at qty")
    expect(form.get_by_label("Path")).to_have_value("qty")
    expect(form.get_by_label("Check")).to_have_value("equals")
    expect(form.get_by_label("Expected")).to_have_value("3")
    expect(form.get_by_label("Save into")).to_have_value("new")
    expect(form.get_by_label("Name of the new test case")).to_have_value(
        f"Quote · run {run.short_id}"
    )
    take_form_pictures(page, form)
    # A value that is not JSON is refused, naming the field; nothing is saved.
    form.get_by_label("Expected").fill("four")
    form.get_by_role("button", name="Save assertion").click()
    form = page.get_by_role("form", name="Assert this value")
    expect(form.locator(".problems")).to_contain_text("expected")
    expect(form.locator(".problems")).to_contain_text("Not valid JSON")
    assert not TestCase.objects.exists()
    # Saved with a wrong expectation, to see the case fail.
    form.get_by_label("Expected").fill("4")
    form.get_by_label("Name of the new test case").fill("quote for three")
    form.get_by_role("button", name="Save assertion").click()
    saved = page.get_by_role("status").filter(has_text="Saved into")
    expect(saved).to_contain_text("Saved into the new test case “quote for three”")
    expect(saved).to_contain_text("step.output of 'price' at qty equals 4")
    # The next value asserted on this page goes into that case unless the user picks another;
    # Escape closes the form and gives the focus back to the value's row.
    assert_button(page, "price", "sku").click()
    form = page.get_by_role("form", name="Assert this value")
    expect(form.get_by_label("Expected")).to_have_value('"A-1"')
    expect(form.get_by_label("Save into").locator("option:checked")).to_have_text("quote for three")
    expect(form.get_by_label("Name of the new test case")).to_be_hidden()
    form.get_by_label("Expected").press("Escape")
    expect(form).to_have_count(0)
    expect(output_tree(page, "price").locator('[data-path="sku"] > .jt-row')).to_be_focused()

    # 2. Run it: it fails, saying what was expected and what came.
    failed_id = run_the_case(page, saved.get_by_role("button", name="▶ Run test case"))
    expect(page.locator("#run-status")).to_have_text("failed")
    checks = page.locator("#run-assertions")
    expect(checks).to_contain_text("1 failed")
    failed_check = checks.locator("tr.assertion").first
    expect(failed_check).to_contain_text("failed")
    expect(failed_check).to_contain_text("step.output of 'price' at qty: expected 4, actual 3")
    expect(page.locator("#run-error")).to_contain_text("1 of 2 assertions failed")
    page.set_viewport_size({"width": 1440, "height": 900})
    checks.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "testcase-failed-1440.png"))
    page.set_viewport_size({"width": 1440, "height": 1000})

    # 3. Fix the expectation from the failed run: "assert" the value it had.
    assert_button(page, "price", "qty").click()
    form = page.get_by_role("form", name="Assert this value")
    expect(form.get_by_label("Expected")).to_have_value("3")
    expect(form.get_by_label("Save into")).to_have_value(re.compile(r"^[0-9a-f-]{36}$"))
    expect(form.get_by_label("Name of the new test case")).to_be_hidden()
    form.get_by_role("button", name="Save assertion").click()
    saved = page.get_by_role("status").filter(has_text="Saved into")
    expect(saved).to_contain_text("Saved into test case “quote for three”")
    expect(saved).to_contain_text("it replaces the equals assertion on this value that expected 4")

    # 4. Run it again: it passes.
    passed_id = run_the_case(page, saved.get_by_role("button", name="▶ Run test case"))
    assert passed_id != failed_id
    expect(page.locator("#run-status")).to_have_text("passed")
    checks = page.locator("#run-assertions")
    expect(checks).to_contain_text("3 of 3 held")
    expect(checks).to_contain_text("step.output of 'price' at qty: expected 3, actual 3")

    # 5. This run becomes the baseline.
    checks.get_by_role("button", name="Accept as new baseline").click()
    expect(page.locator("#run-assertions")).to_contain_text("✓ The baseline of “quote for three”")
    case = TestCase.objects.get(name="quote for three")
    assert str(case.baseline_run_id) == passed_id

    # 6. Change the workflow in the editor: the step's tier is now silver.
    page.goto("/workflows/quote/edit/")
    page.locator("#definition").fill(json.dumps(quote_definition("silver"), indent=2))
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/workflows/quote/(\?.*)?$"))

    # 7. Run the case from the workflow page: the run page shows how it left the baseline.
    row = page.locator("#test-cases tr").filter(has_text="quote for three")
    run_the_case(page, row.get_by_role("button", name="▶ Run"))
    expect(page.locator("#run-status")).to_have_text("failed")
    checks = page.locator("#run-assertions")
    difference = checks.locator("tr.assertion").filter(has_text="step 'price' output.tier")
    expect(difference).to_contain_text(
        f"step 'price' output.tier differs from baseline run {passed_id[:8]}: "
        'expected "gold", actual "silver"'
    )
    expect(checks).to_contain_text("step.output of 'price' at qty: expected 3, actual 3")
    screenshot(page, "testcase-baseline-diff")


def take_form_pictures(page: Any, form: Any) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1440, "height": 900})
    form.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "assert-value-1440.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    form.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "assert-value-390.png"))
    page.set_viewport_size({"width": 1440, "height": 1000})


LINES: dict[str, Any] = {
    "schema_version": 1,
    "name": "Order lines",
    "slug": "order-lines",
    "nodes": [
        {"id": "hook", "type": "webhook_trigger"},
        {"id": "each", "type": "loop", "config": {"items": "body.lines"}},
        {"id": "stock", "type": "transform", "label": "Check stock", "parent": "each",
         "config": {"template": {"sku": "{{item.sku}}", "qty": "{{item.qty}}"}}},
    ],
    "edges": [{"source": "hook", "target": "each"}],
}  # fmt: skip


def test_a_loop_items_value_and_the_runs_result(login: Callable[..., Any], page: Any) -> None:
    user = User.objects.get(username="demo")
    project = Workflow.objects.get(slug="order-fulfilment").project
    workflow = save_definition(project, LINES, user=user).workflow
    lines = [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}]
    run = start_run(workflow, user, payload={"lines": lines})
    login()
    page.goto(f"/test-runs/{run.id}/")
    expect(page.locator("#run-status")).to_have_text("passed")

    # An item of a loop body step: the assertion's path starts with the item's index.
    items = page.locator("#loop-each")
    if items.get_attribute("open") is None:
        items.locator(":scope > summary").click()
    item = page.locator('details.step[data-node="stock"][data-iteration="1"]')
    item.locator(":scope > summary").click()
    block = item.locator(".json-block").filter(has=page.get_by_role("heading", name="Output"))
    row = block.get_by_role("tree").locator('[data-path="qty"] > .jt-row')
    row.hover()
    row.get_by_role("button", name="Assert the value of qty").click()
    form = page.get_by_role("form", name="Assert this value")
    expect(form).to_contain_text("step.output of 'stock' at [1].qty")
    expect(form.get_by_label("Path")).to_have_value("[1].qty")
    expect(form.get_by_label("Expected")).to_have_value("2")
    form.get_by_label("Name of the new test case").fill("second line")
    form.get_by_role("button", name="Save assertion").click()
    expect(page.get_by_role("status").filter(has_text="Saved into")).to_contain_text(
        "Saved into the new test case “second line”"
    )

    # The run's final output (the loop's list): target run.result, into the same case.
    result = page.locator("#result-card").get_by_role("tree")
    row = result.locator('[data-path="[1].sku"] > .jt-row')
    row.hover()
    row.get_by_role("button", name="Assert the value of [1].sku").click()
    form = page.get_by_role("form", name="Assert this value")
    expect(form).to_contain_text("run.result at [1].sku")
    expect(form.get_by_label("Expected")).to_have_value('"B"')
    form.get_by_label("Check").select_option("matches")
    form.get_by_label("Expected").fill('"^B$"')
    form.get_by_role("button", name="Save assertion").click()
    saved = page.get_by_role("status").filter(has_text="run.result at [1].sku")
    expect(saved).to_contain_text("Saved into test case “second line”")

    run_the_case(page, saved.get_by_role("button", name="▶ Run test case"))
    expect(page.locator("#run-status")).to_have_text("passed")
    checks = page.locator("#run-assertions")
    expect(checks).to_contain_text("4 of 4 held")
    expect(checks).to_contain_text("step.output of 'stock' at [1].qty: expected 2, actual 2")
    expect(checks).to_contain_text('run.result at [1].sku: expected to match /^B$/, actual "B"')
