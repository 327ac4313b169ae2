"""`{{ expr }}` templates: compiled once when a definition is parsed, rendered per step."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .expressions import Expression, ExpressionError, compile_expression
from .problems import child_path


class TemplateSyntaxError(ValueError):
    """A template string is malformed; the message is user-facing."""


class TemplateRenderError(ValueError):
    """A template expression failed or (strict mode) yielded null."""


@dataclass(frozen=True, eq=False)
class TemplateString:
    """A string with at least one `{{ }}`; `whole` is set when the string is exactly one of them."""

    source: str
    parts: tuple[str | Expression, ...]

    @property
    def whole(self) -> Expression | None:
        if len(self.parts) == 1 and isinstance(self.parts[0], Expression):
            return self.parts[0]
        return None


def _find_close(text: str, start: int) -> int:
    """Index of the `}}` ending the expression that starts at `start`, or -1.

    JMESPath itself uses braces (multi-select hashes) and quotes, so a naive search for `}}`
    would cut `{{ {a: b} }}` short.
    """
    depth = 0
    quote: str | None = None
    index = start
    while index < len(text):
        char = text[index]
        if quote is not None:
            if char == "\\":
                index += 2
                continue
            if char == quote:
                quote = None
        elif char in "'\"`":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            if depth == 0 and text.startswith("}}", index):
                return index
            depth = max(depth - 1, 0)
        index += 1
    return -1


def parse_template_string(text: str, max_expression_length: int) -> str | TemplateString:
    """Return `text` unchanged when it holds no template, else its compiled form."""
    if "{{" not in text:
        return text
    parts: list[str | Expression] = []
    position = 0
    while True:
        opening = text.find("{{", position)
        if opening < 0:
            break
        if opening > position:
            parts.append(text[position:opening])
        closing = _find_close(text, opening + 2)
        if closing < 0:
            raise TemplateSyntaxError(f"unclosed '{{{{' at character {opening + 1}")
        source = text[opening + 2 : closing].strip()
        if not source:
            raise TemplateSyntaxError(f"empty '{{{{ }}}}' at character {opening + 1}")
        try:
            parts.append(compile_expression(source, max_expression_length))
        except ExpressionError as exc:
            raise TemplateSyntaxError(f"in '{{{{ {source} }}}}': {exc}") from exc
        position = closing + 2
    if position < len(text):
        parts.append(text[position:])
    return TemplateString(text, tuple(parts))


def compile_template(
    value: Any, max_expression_length: int, on_error: Callable[[str, str], None], path: str
) -> Any:
    """Compile every string inside `value`; problems go to `on_error(path, message)`.

    The result mirrors `value`: dicts and lists are rebuilt, template strings become
    `TemplateString`, every other value is kept as is.
    """
    if isinstance(value, str):
        try:
            return parse_template_string(value, max_expression_length)
        except TemplateSyntaxError as exc:
            on_error(path, f"bad template: {exc}")
            return value
    if isinstance(value, dict):
        return {
            key: compile_template(item, max_expression_length, on_error, child_path(path, key))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            compile_template(item, max_expression_length, on_error, child_path(path, index))
            for index, item in enumerate(value)
        ]
    return value


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass
class Renderer:
    """Renders compiled templates against one context; collects non-strict warnings."""

    context: Mapping[str, Any]
    strict: bool
    warnings: list[str]

    def render(self, compiled: Any) -> Any:
        if isinstance(compiled, TemplateString):
            return self._render_string(compiled)
        if isinstance(compiled, dict):
            return {key: self.render(item) for key, item in compiled.items()}
        if isinstance(compiled, list):
            return [self.render(item) for item in compiled]
        return compiled

    def _evaluate(self, expression: Expression) -> Any:
        try:
            value = expression.search(self.context)
        except ExpressionError as exc:
            raise TemplateRenderError(f"template {{{{ {expression.source} }}}}: {exc}") from exc
        if value is None:
            if self.strict:
                raise TemplateRenderError(
                    f"template {{{{ {expression.source} }}}} yielded null (strict templates are on)"
                )
            self.warnings.append(f"template {{{{ {expression.source} }}}} yielded null")
        return value

    def _render_string(self, template: TemplateString) -> Any:
        whole = template.whole
        if whole is not None:
            return self._evaluate(whole)
        return "".join(
            part if isinstance(part, str) else _as_text(self._evaluate(part))
            for part in template.parts
        )
