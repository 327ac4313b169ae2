"""JSON to and from users. In: parsed strictly (the API, the editor and the console forms
share it). Out: `pretty`, the one way a page or the admin shows a JSON value.

Python's json accepts NaN/Infinity (which PostgreSQL's jsonb and SQLite's JSON checks then
refuse with a 500), accepts `\\u0000` (which PostgreSQL refuses in text and jsonb), silently
keeps the last of duplicated keys, and raises RecursionError on deep nesting. Here each of
those is a clear error with its position, and nesting deeper than the engine's
MAX_JSON_DEPTH is refused with the JSON path where it goes too deep.
"""

from __future__ import annotations

import json
import re
from typing import Any

from meshhook.engine.limits import MAX_JSON_DEPTH, unstorable
from meshhook.engine.problems import child_path

_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_STRINGS = re.compile(_STRING)
_TOKENS = re.compile(_STRING + r"|[\[\]{},]")
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_INNERMOST_PAIRS = re.compile(r"\[\]|\{\}")


class JsonInputError(ValueError):
    """Not acceptable JSON; the message says why and where (`path`, `$` for the whole)."""

    def __init__(self, message: str, path: str = "$") -> None:
        super().__init__(message)
        self.path = path


def pretty(value: Any) -> str:
    """Indented, non-ASCII kept as it is, anything that is not JSON shown as its text."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def loads(text: str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    try:
        value = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise JsonInputError(
            f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None
    except RecursionError:
        path = _path_too_deep(text, max_depth)
        raise JsonInputError(_too_deep_message(path, max_depth), path) from None
    # Both checks walk the value; the text tells cheaply whether either can find anything.
    if "\\u0000" in text or _may_nest_deeper(text, max_depth):
        found = unstorable(value, max_depth)
        if found is not None:
            path, why = found
            if why.startswith("nests"):
                raise JsonInputError(_too_deep_message(path, max_depth), path)
            where = "the value" if path == "$" else f"the value at {path}"
            raise JsonInputError(
                f"Not valid JSON here: {where} {why}, which cannot be stored.", path
            )
    return value


def _too_deep_message(path: str, max_depth: int) -> str:
    where = "" if path == "$" else f" at {path}"
    return f"Not valid JSON: nested too deeply{where} (more than {max_depth} levels)."


def _may_nest_deeper(text: str, max_depth: int) -> bool:
    """Whether valid JSON `text` may nest deeper than `max_depth`, without decoding it:
    strings dropped, each round removes the innermost bracket pairs."""
    if text.count("[") + text.count("{") <= max_depth:
        return False
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", text))
    for _ in range(max_depth):
        brackets = _INNERMOST_PAIRS.sub("", brackets)
        if not brackets:
            return False
    return True


def _path_too_deep(text: str, max_depth: int) -> str:
    """The path of the first array or object nested deeper than `max_depth`, read from the
    text itself: for documents too deep for the decoder to return at all."""
    # One entry per open container: [is an object, current key or index, expecting a key].
    stack: list[list[Any]] = []
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            if len(stack) >= max_depth:
                path = "$"
                for _, key, _ in stack:
                    path = child_path(path, key)
                return path
            stack.append([token == "{", None if token == "{" else 0, token == "{"])
        elif token in ("]", "}"):
            if stack:
                stack.pop()
        elif token == ",":
            if stack and stack[-1][0]:
                stack[-1][2] = True
            elif stack:
                stack[-1][1] += 1
        elif stack and stack[-1][0] and stack[-1][2]:
            stack[-1][1] = json.loads(token)
            stack[-1][2] = False
    return "$"


def _reject_constant(name: str) -> Any:
    raise JsonInputError(f"Not valid JSON: {name} is not a JSON value.")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise JsonInputError(f"Not valid JSON: the key '{key}' appears twice in one object.")
        result[key] = value
    return result
