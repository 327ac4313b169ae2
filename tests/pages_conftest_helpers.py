"""Shared by the console page tests (tests/test_pages.py, tests/test_editor.py): a team
project with one user per role plus an outsider, logged-in clients, and a reader for the
`<li><code>path</code><span>message</span></li>` problem lists the pages render."""

from __future__ import annotations

import html
import re
from typing import Any

from tests.teams import HTMX, ROLES, Team, team_fixture

__all__ = ["HTMX", "ROLES", "Team", "assert_login_redirect", "problems_in", "team_fixture",
           "text_of"]  # fmt: skip

_PROBLEM = re.compile(r"<li><code>(.*?)</code><span>(.*?)</span></li>", re.S)


def problems_in(response: Any) -> list[tuple[str, str]]:
    """(path, message) of every problem listed on the page, HTML entities decoded."""
    text = response.content.decode()
    return [(html.unescape(path), html.unescape(msg)) for path, msg in _PROBLEM.findall(text)]


def text_of(response: Any) -> str:
    return html.unescape(response.content.decode())


def assert_login_redirect(response: Any, path: str) -> None:
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
    assert path.split("?")[0] in html.unescape(response["Location"]).replace("%2F", "/")
