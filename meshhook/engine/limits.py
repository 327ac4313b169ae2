"""Size and count limits that keep one run (and one definition) bounded."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .problems import child_path

# Deeper JSON is refused where it enters (payloads, definitions, HTTP responses): Python's
# recursive code (json, templates, masking, JMESPath) breaks near 1 000 levels, and no real
# document needs more than a handful.
MAX_JSON_DEPTH = 64


@dataclass(frozen=True)
class Limits:
    max_payload_bytes: int = 1_000_000
    max_definition_bytes: int = 512_000
    max_nodes: int = 200
    max_expression_length: int = 2_000
    # Hard cap over a loop's own `max_items`, so one definition cannot ask for a million iterations.
    max_loop_items: int = 1_000
    max_output_bytes: int = 1_000_000
    max_log_lines_per_step: int = 1_000
    max_response_bytes: int = 5_000_000
    max_json_depth: int = MAX_JSON_DEPTH
    # What the expressions and templates of one step may build while evaluating (JSON bytes,
    # shared references counted at full size) and how long they may take.
    max_evaluation_bytes: int = 10_000_000
    max_evaluation_ms: int = 5_000


DEFAULT_LIMITS = Limits()


def payload_bytes(value: Any) -> int:
    """A payload's size as limits count it: compact JSON in UTF-8, whatever spacing it was
    typed with (the form, the API and the trigger all measure it so)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode())


def describe_bytes(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f} MB"
    if size >= 1_000:
        return f"{size / 1_000:.1f} kB"
    return f"{size} bytes"


Trail = tuple["Trail", object] | None  # (parent's trail, key or index); None is the root


def _path(trail: Trail) -> str:
    keys: list[object] = []
    while trail is not None:
        trail, key = trail
        keys.append(key)
    path = "$"
    for key in reversed(keys):
        path = child_path(path, key)
    return path


def unstorable(
    value: Any, max_depth: int = MAX_JSON_DEPTH, *, nul: bool = True
) -> tuple[str, str] | None:
    """A place in `value` (a decoded JSON document) that cannot be stored, as (JSON path,
    why): an array or object nested deeper than `max_depth`, or (with `nul`) a string, key
    or value, with a NUL character, which PostgreSQL refuses in text and jsonb. None if
    there is none. Iterative, so any depth is safe to ask about."""
    if isinstance(value, str):
        return ("$", _NUL_VALUE) if nul and "\x00" in value else None
    stack: list[tuple[Any, Trail, int]] = [(value, None, 1)]
    while stack:
        current, trail, depth = stack.pop()
        if isinstance(current, dict):
            if depth > max_depth:
                return _path(trail), f"nests deeper than {max_depth} levels"
            items: Iterable[tuple[object, Any]] = current.items()
        elif isinstance(current, list | tuple):
            if depth > max_depth:
                return _path(trail), f"nests deeper than {max_depth} levels"
            items = enumerate(current)
        else:
            continue
        for key, item in items:
            if nul and isinstance(key, str) and "\x00" in key:
                return _path((trail, key)), _NUL_KEY
            if isinstance(item, str):
                if nul and "\x00" in item:
                    return _path((trail, key)), _NUL_VALUE
            elif isinstance(item, dict | list | tuple):
                stack.append((item, (trail, key), depth + 1))
    return None


_NUL_VALUE = "contains a NUL character (\\u0000)"
_NUL_KEY = "has a NUL character (\\u0000) in its name"


def too_deep(value: Any, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """The JSON path of an array or object in `value` nested deeper than `max_depth`."""
    found = unstorable(value, max_depth, nul=False)
    return None if found is None else found[0]
