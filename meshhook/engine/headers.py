"""Request headers a node may not set: those that frame the message (a node setting them
could smuggle a second request or reach another virtual host) and MeshHook's own."""

from __future__ import annotations

import re
from collections.abc import Mapping

RESERVED_HEADERS = frozenset(
    {
        "host",
        "transfer-encoding",
        "content-length",
        "connection",
        "upgrade",
        "te",
        "trailer",
        "keep-alive",
    }
)
RESERVED_PREFIXES = ("proxy-", "x-meshhook-")
# RFC 9110 field-name: a token.
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")


def is_reserved_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in RESERVED_HEADERS or lowered.startswith(RESERVED_PREFIXES)


def without_reserved(headers: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """(the headers a node may send, the names of those dropped)."""
    kept = {name: value for name, value in headers.items() if not is_reserved_header(name)}
    return kept, [name for name in headers if name not in kept]


def merged(headers: Mapping[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    """`headers` with `overrides` replacing every header of the same name in any case, so
    each overriding header is sent exactly once."""
    replaced = {name.lower() for name in overrides}
    return {
        **{name: value for name, value in headers.items() if name.lower() not in replaced},
        **overrides,
    }
