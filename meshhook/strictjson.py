"""JSON to and from users. In: parsed strictly (the API, the editor and the console forms
share it). Out: `pretty`, the one way a page or the admin shows a JSON value.

Python's json accepts NaN/Infinity (which PostgreSQL's jsonb and SQLite's JSON checks then
refuse with a 500), silently keeps the last of duplicated keys, and raises RecursionError
on deep nesting. Here each of those is a clear error with its position.
"""

from __future__ import annotations

import json
from typing import Any


class JsonInputError(ValueError):
    """Not acceptable JSON; the message says why and where."""


def pretty(value: Any) -> str:
    """Indented, non-ASCII kept as it is, anything that is not JSON shown as its text."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def loads(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise JsonInputError(
            f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None
    except RecursionError:
        raise JsonInputError("Not valid JSON: nested too deeply.") from None


def _reject_constant(name: str) -> Any:
    raise JsonInputError(f"Not valid JSON: {name} is not a JSON value.")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise JsonInputError(f"Not valid JSON: the key '{key}' appears twice in one object.")
        result[key] = value
    return result
