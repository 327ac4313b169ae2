"""Readers for what the console pages render: the `<li><code>path</code><span>message</span>
</li>` problem lists, the page text with entities decoded, and the login redirect."""

from __future__ import annotations

import html
import re
from typing import Any

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
