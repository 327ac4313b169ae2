"""JMESPath compiled once, checked at parse time, evaluated without leaking library errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jmespath
from jmespath import functions as jmespath_functions
from jmespath.exceptions import IncompleteExpressionError, JMESPathError, LexerError, ParseError
from jmespath.parser import ParsedResult

_FUNCTION_TABLE: dict[str, dict[str, Any]] = jmespath_functions.Functions.FUNCTION_TABLE


class ExpressionError(ValueError):
    """An expression could not be compiled or evaluated; the message is user-facing."""


@dataclass(frozen=True, eq=False)
class Expression:
    source: str
    parsed: ParsedResult

    def search(self, data: Any) -> Any:
        try:
            return self.parsed.search(data)
        except JMESPathError as exc:
            raise ExpressionError(f"expression '{self.source}' failed: {_first_line(exc)}") from exc
        except RecursionError as exc:
            raise ExpressionError(f"expression '{self.source}' nests too deeply") from exc


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            yield current
            stack.extend(current.get("children", []))


def _check_functions(parsed: Any) -> None:
    # The jmespath library only notices unknown functions and wrong arity while evaluating;
    # catching them here turns a runtime failure into a validation problem.
    for node in _walk(parsed):
        if node.get("type") != "function_expression":
            continue
        name = node.get("value")
        spec = _FUNCTION_TABLE.get(str(name))
        if spec is None:
            raise ExpressionError(f"unknown function {name}()")
        signature = spec["signature"]
        given = len(node.get("children", []))
        variadic = bool(signature) and bool(signature[-1].get("variadic"))
        expected = len(signature)
        if (variadic and given < expected) or (not variadic and given != expected):
            plural = "s" if expected != 1 else ""
            at_least = "at least " if variadic else ""
            raise ExpressionError(
                f"function {name}() takes {at_least}{expected} argument{plural}, got {given}"
            )


def compile_expression(source: str, max_length: int) -> Expression:
    if not source.strip():
        raise ExpressionError("expression is empty")
    if len(source) > max_length:
        raise ExpressionError(
            f"expression is {len(source)} characters long, over the limit of {max_length}"
        )
    try:
        parsed = jmespath.compile(source)
    except JMESPathError as exc:
        raise ExpressionError(f"invalid JMESPath '{source}': {_syntax_error(exc)}") from exc
    except RecursionError as exc:
        raise ExpressionError(f"invalid JMESPath '{source}': nests too deeply") from exc
    try:
        _check_functions(parsed.parsed)
    except ExpressionError as exc:
        raise ExpressionError(f"invalid JMESPath '{source}': {exc}") from exc
    return Expression(source, parsed)


def _syntax_error(exc: JMESPathError) -> str:
    """What is wrong and at which column (1-based), in one line. The library's own text
    ends with the expression and a caret on lines of their own, which a one-line message
    would cut to a dangling "Incomplete expression:"."""
    if isinstance(exc, LexerError):
        what = str(exc.message or "bad character").strip().rstrip(":")
        return f"{what[:1].lower()}{what[1:]} at column {exc.lexer_position + 1}"
    if isinstance(exc, ParseError):
        if isinstance(exc, IncompleteExpressionError) or str(exc.token_type).lower() == "eof":
            column = exc.lex_position
            return f"the expression is incomplete, something is missing after column {column}"
        return f"unexpected {str(exc.token_value)!r} at column {exc.lex_position + 1}"
    return _first_line(exc).rstrip(":")


def is_truthy(value: Any) -> bool:
    """JMESPath truthiness: false, null, empty string/array/object are false."""
    if value is None or value is False:
        return False
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True
