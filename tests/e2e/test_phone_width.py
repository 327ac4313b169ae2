"""At 390 px: the main navigation collapses into a Menu button, and no page of the console
scrolls sideways."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

PHONE = {"width": 390, "height": 844}


def page_width(page: Any) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def test_the_navigation_is_a_menu_on_a_phone(
    login: Callable[..., Any], screenshot: Callable[..., None]
) -> None:
    page = login()
    page.set_viewport_size(PHONE)
    environments = page.locator("#mainnav").get_by_role("link", name="Environments")
    expect(environments).to_be_hidden()
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_have_attribute("aria-expanded", "false")
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(environments).to_be_visible()
    screenshot(page, "phone-menu-open")
    page.keyboard.press("Escape")
    expect(environments).to_be_hidden()
    expect(menu).to_be_focused()
    menu.click()
    environments.click()
    page.wait_for_url(re.compile(r"/environments/$"))
    expect(page.get_by_role("heading", name="Environments")).to_be_visible()
    # At desktop width the sections are in the bar and there is no Menu button.
    page.set_viewport_size({"width": 1440, "height": 900})
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.locator("#mainnav").get_by_role("link", name="Test runs")).to_be_visible()


def test_no_page_scrolls_sideways_on_a_phone(login: Callable[..., Any]) -> None:
    page = login()
    page.set_viewport_size(PHONE)
    page.goto("/workflows/lead-to-crm/")
    page.get_by_role("button", name="Start test run").click()
    page.wait_for_url(re.compile(r"/test-runs/[0-9a-f-]{36}/$"))
    expect(page.locator("#run-status")).to_have_text(re.compile("passed|failed"))
    run_page = page.url
    for path in ("/workflows/", "/workflows/lead-to-crm/", "/test-runs/", "/environments/",
                 "/tokens/", run_page):  # fmt: skip
        page.goto(path)
        assert page_width(page) <= PHONE["width"], f"{path} is {page_width(page)} px wide"
