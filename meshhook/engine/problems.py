"""Validation problems, each tied to the JSON path of what is wrong."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_NODE_PATH = re.compile(r"nodes\[\d+\]")


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    # The id of the node the problem is in, when the path is inside one (`nodes[2]…`):
    # people know their nodes by id, not by position. Not part of a problem's identity.
    node_id: str | None = field(default=None, compare=False)

    @property
    def where(self) -> str:
        """The path with the node's id after its position: nodes[2] (id `map`).config."""
        match = _NODE_PATH.match(self.path)
        if self.node_id is None or match is None:
            return self.path
        return f"{match[0]} (id `{self.node_id}`){self.path[match.end() :]}"

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class DefinitionError(ValueError):
    """The definition is invalid; `problems` lists every problem found, not just the first."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        summary = "; ".join(str(problem) for problem in self.problems[:5])
        more = f" (and {count - 5} more)" if count > 5 else ""
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"invalid workflow definition, {count} {noun}: {summary}{more}")


def child_path(path: str, key: object) -> str:
    """`nodes[2]` + `config` → `nodes[2].config`; keys that are not identifiers are quoted."""
    if isinstance(key, int):
        return f"{'' if path == '$' else path}[{key}]"
    text = str(key)
    if text.isidentifier():
        return text if path in ("", "$") else f"{path}.{text}"
    prefix = "$" if path in ("", "$") else path
    return f"{prefix}[{json.dumps(text, ensure_ascii=False)}]"


class Problems:
    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(Problem(path, message))

    def __bool__(self) -> bool:
        return bool(self.items)


def show_value(value: object) -> str:
    """A value as a problem message quotes it: short strings in quotes, missing as 'nothing'."""
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:40] + "…")
    if value is None:
        return "nothing"
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return describe_type(value)


def describe_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
