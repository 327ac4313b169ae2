"""Reading an uploaded JSON document field by field, collecting every problem with its path.

Imports (testruns.imports, testruns.case_files) check a whole file before writing anything,
so a user fixes all of it at once: each getter returns a usable default and records what
was wrong instead of raising.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from meshhook.engine import Problem
from meshhook.engine.problems import child_path

_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "bool": (bool,),
    "object": (dict,),
    "list": (list,),
}
_NAMES = {"str": "text", "int": "a whole number", "bool": "true or false",
          "object": "an object", "list": "an array"}  # fmt: skip


class Reader:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def field(
        self,
        data: dict[str, Any],
        key: str,
        path: str,
        kind: str = "any",
        *,
        required: bool = True,
        nullable: bool = False,
        default: Any = None,
        choices: Sequence[str] | None = None,
    ) -> Any:
        where = child_path(path, key)
        if key not in data:
            if required:
                self.problem(where, "This field is required.")
            return default
        value = data[key]
        if value is None:
            if nullable or kind == "any":
                return None
            self.problem(where, f"Must be {_NAMES.get(kind, kind)}, not null.")
            return default
        return self.value(value, where, kind, default=default, choices=choices)

    def value(
        self,
        value: Any,
        where: str,
        kind: str,
        *,
        default: Any = None,
        choices: Sequence[str] | None = None,
    ) -> Any:
        if kind == "any":
            return value
        if kind == "time":
            parsed = parse_datetime(value) if isinstance(value, str) else None
            if parsed is None or parsed.tzinfo is None:
                self.problem(where, "Must be an ISO 8601 time with its zone (…Z).")
                return default
            return parsed
        if kind == "uuid":
            try:
                return uuid.UUID(str(value))
            except ValueError:
                self.problem(where, "Must be an id (UUID).")
                return default
        expected = _TYPES[kind]
        # bool is an int in Python; JSON keeps them apart.
        if not isinstance(value, expected) or (kind == "int" and isinstance(value, bool)):
            self.problem(where, f"Must be {_NAMES[kind]}.")
            return default
        if kind == "int" and isinstance(value, int) and value < 0:
            self.problem(where, "Must not be negative.")
            return default
        if choices is not None and value not in choices:
            self.problem(where, f"Must be one of {', '.join(choices)}.")
            return default
        return value

    def time(self, data: dict[str, Any], key: str, path: str) -> datetime | None:
        result: datetime | None = self.field(data, key, path, "time", nullable=True)
        return result
