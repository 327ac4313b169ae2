"""The Environments page in Chromium: an owner adds an environment with an allowed host and
a secret, finds it listed, and sees the secret only as its name and dots."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from meshhook.models import Environment

SECRET = "pw-e2e-secret-value-3391"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def shoot(page: Any, name: str) -> None:
    """The whole page at 1440 px and at 390 px wide, under test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    for width, height in ((1440, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1440, "height": 1000})


def test_owner_adds_an_environment_with_a_host_and_a_secret(
    login: Callable[..., Any],
) -> None:
    page = login()
    page.goto("/environments/")
    page.get_by_role("link", name="+ New environment").click()
    expect(page.get_by_role("heading", name="New environment")).to_be_visible()

    form = page.locator("#environment-form")
    form.get_by_role("textbox", name=re.compile(r"^Name")).fill("qa-browser")
    form.get_by_label("Description").fill("QA run from the browser")
    # A private wildcard is refused inline, naming the field, and nothing is created.
    form.locator("textarea[name=allowed_hosts]").fill("api.qa.example.com\n*.internal")
    form.get_by_label("Secret name").first.fill("QA_TOKEN")
    form.get_by_label("Secret value").first.fill(SECRET)
    form.get_by_role("button", name="Create environment").click()
    expect(page.locator("#allowed_hosts-error")).to_contain_text("allowed_hosts[1]")
    expect(page.locator("#allowed_hosts-error")).to_contain_text("wildcard")
    assert not Environment.objects.filter(name="qa-browser").exists()
    assert SECRET not in page.content()
    shoot(page, "environment-new-error")

    form = page.locator("#environment-form")
    form.locator("textarea[name=allowed_hosts]").fill("api.qa.example.com")
    # The value was not sent back: it is typed again.
    expect(form.get_by_label("Secret name").first).to_have_value("QA_TOKEN")
    expect(form.get_by_label("Secret value").first).to_have_value("")
    form.get_by_label("Secret value").first.fill(SECRET)
    form.get_by_role("button", name="Create environment").click()

    page.wait_for_url(re.compile(r"/environments/[a-z0-9-]+/qa-browser/$"))
    expect(page.locator(".flash-success")).to_contain_text("Environment 'qa-browser' created.")
    secret_row = page.locator("#secrets .secret-item", has_text="QA_TOKEN")
    expect(secret_row.locator(".secret-dots")).to_have_text("••••••••")
    expect(page.locator("textarea[name=allowed_hosts]")).to_have_value("api.qa.example.com")
    assert SECRET not in page.content()
    shoot(page, "environment-edit")

    page.get_by_role("link", name="Environments").first.click()
    row = page.locator("tr", has_text="qa-browser")
    expect(row).to_contain_text("api.qa.example.com")
    expect(row.locator(".secret-chip")).to_have_text("QA_TOKEN ••••")
    assert SECRET not in page.content()
    shoot(page, "environments")
    environment = Environment.objects.get(name="qa-browser")
    assert environment.secrets_for_test_run() == {"QA_TOKEN": SECRET}
