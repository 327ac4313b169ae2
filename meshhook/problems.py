"""The one error type that carries problems with JSON paths to whoever answers the user.

Services raise a subclass (bad parameters, a run in the wrong state…); the JSON API turns
it into `{"error": message, "errors": [{"path", "message"}]}` with its `status`, and the
console shows the problems next to the fields they name.
"""

from __future__ import annotations

from collections.abc import Sequence

from meshhook.engine import Problem


class ProblemError(Exception):
    status = 400

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems) or [Problem("$", message)]
