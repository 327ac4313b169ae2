""" "Add as rows" in the Test-run form splits pasted headers by the server's own rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from testruns.parameters import parse_headers_text

PASTED = "\n".join([
    "> POST /hook HTTP/1.1",
    "Content-Type: application/json",
    "# a comment: not a header",
    "",
    "  X-Signature: sha256=abc:def  ",
    ": no name",
    "< HTTP/1.1 200 OK",
    "no colon at all",
])  # fmt: skip


def test_pasted_headers_become_the_rows_the_server_would_parse(
    login: Callable[..., Any],
) -> None:
    page = login()
    page.goto("/workflows/lead-to-crm/test-run/")
    rows = page.locator("#header-rows .header-row")
    before = rows.count()
    page.get_by_text("Paste raw headers").click()
    page.locator("#raw-headers").fill(PASTED)
    page.get_by_role("button", name="Add as rows").click()
    added = [
        (row.locator("[name=header_name]").input_value(),
         row.locator("[name=header_value]").input_value())
        for row in rows.all()[before:]
    ]  # fmt: skip
    assert added == list(parse_headers_text(PASTED).items())
    assert added == [("Content-Type", "application/json"), ("X-Signature", "sha256=abc:def")]
