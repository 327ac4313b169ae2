"""JMESPath compiled once, checked at parse time, evaluated within a budget and without leaking
library errors.

The budget exists because JMESPath can amplify: `[@,@,@,@]` holds four references to its
input, so a few such levels over a 1 MB payload describe gigabytes that are only ever written
out when the result is serialised (output checks, storage, masking). The evaluator therefore
charges, while it builds arrays, objects and strings, the JSON size of what it builds (each
shared reference at full size) and stops at the step's byte limit or deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass
from time import monotonic
from types import TracebackType
from typing import TYPE_CHECKING, Any

import jmespath
from jmespath import functions as jmespath_functions
from jmespath.exceptions import IncompleteExpressionError, JMESPathError, LexerError, ParseError
from jmespath.parser import ParsedResult
from jmespath.visitor import Options, TreeInterpreter

from .context import RUN_TIMEOUT
from .limits import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    from jmespath.visitor import _TreeNode

_FUNCTION_TABLE: dict[str, dict[str, Any]] = jmespath_functions.Functions.FUNCTION_TABLE
# Stateless, so one instance serves every evaluation instead of one per search.
_FUNCTIONS = jmespath_functions.Functions()
_OPTIONS = Options(custom_functions=_FUNCTIONS)

# JSON size counted for null, true, false and a number: close enough for a budget.
_SCALAR_SIZE = 5
# Units of work (elements visited or measured) between two looks at the clock.
_CHECK_EVERY = 512


class ExpressionError(ValueError):
    """An expression could not be compiled or evaluated; the message is user-facing."""


class EvaluationStopped(ExpressionError):
    """Evaluation hit the step's byte limit or deadline; `run_timeout` when it was the run's."""

    def __init__(self, message: str, *, run_timeout: bool = False) -> None:
        super().__init__(message)
        self.run_timeout = run_timeout


class _Stop(Exception):
    """Raised deep inside an evaluation; `Expression.search` adds which expression it was."""

    def __init__(self, reason: str, *, run_timeout: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.run_timeout = run_timeout


class EvaluationBudget:
    """What the expressions and templates of one step may still spend: bytes and time.

    Bytes are cumulative over the step (every expression of a template config shares them),
    so a config cannot multiply the limit by repeating a template. While bound (`with
    budget:`) it applies to every `Expression.search` in the current context; outside any
    binding each search gets a fresh budget with the default limits.
    """

    __slots__ = (
        "_token",
        "clock",
        "deadline",
        "max_bytes",
        "max_ms",
        "run_deadline_first",
        "spent",
    )

    def __init__(
        self,
        max_bytes: int,
        max_ms: int,
        run_deadline: float | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.clock = clock if clock is not None else monotonic
        self.max_bytes = max_bytes
        self.max_ms = max_ms
        self.spent = 0
        own = self.clock() + max_ms / 1000
        self.run_deadline_first = run_deadline is not None and run_deadline <= own
        self.deadline = (
            run_deadline if run_deadline is not None and self.run_deadline_first else own
        )
        self._token: Token[EvaluationBudget | None] | None = None

    @classmethod
    def for_step(
        cls, limits: Limits = DEFAULT_LIMITS, run_deadline: float | None = None
    ) -> EvaluationBudget:
        return cls(limits.max_evaluation_bytes, limits.max_evaluation_ms, run_deadline)

    def too_big(self) -> _Stop:
        return _Stop(f"its result exceeds the {self.max_bytes:,}-byte limit while evaluating")

    def check_time(self) -> None:
        if self.clock() > self.deadline:
            if self.run_deadline_first:
                raise _Stop(RUN_TIMEOUT, run_timeout=True)
            raise _Stop(f"evaluation ran past the step's {self.max_ms:,} ms time limit")

    def bind(self) -> EvaluationBudget:
        """Make this the budget of every search in the current context, until `unbind`."""
        self._token = _ACTIVE.set(self)
        return self

    def unbind(self) -> None:
        if self._token is not None:
            _ACTIVE.reset(self._token)
            self._token = None

    def __enter__(self) -> EvaluationBudget:
        return self.bind()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.unbind()


# A context variable rather than a parameter: node handlers and templates call `search`
# without knowing about budgets, and the runner binds one per step around all of them.
_ACTIVE: ContextVar[EvaluationBudget | None] = ContextVar("evaluation_budget", default=None)


def bound_budget() -> EvaluationBudget | None:
    """The budget bound in the current context, if any."""
    return _ACTIVE.get()


class _Interpreter(TreeInterpreter):
    """jmespath's own interpreter, with every visit that builds a value charging its size.

    `_sizes` maps id() of each array/object seen to [value, JSON size, placed]: the value is
    kept so the id cannot be reused while the evaluation runs; `placed` is False for a
    container built here and not yet put into another one, whose bytes are already paid for.
    Putting anything else into a container costs its full size: that is the amplification.
    """

    def __init__(self, budget: EvaluationBudget) -> None:
        # TreeInterpreter.__init__ only picks the dict class and the functions, both fixed here.
        self._dict_cls = dict
        self._options = _OPTIONS
        self._functions = _FUNCTIONS
        self._budget = budget
        self._spent = budget.spent
        self._max = budget.max_bytes
        self._sizes: dict[int, list[Any]] = {}
        self._countdown = _CHECK_EVERY

    def visit(self, node: _TreeNode, value: Any) -> Any:
        # One class-wide table instead of the per-instance cache the base class fills anew
        # for every evaluation: the interpreter is created once per search.
        return _DISPATCH[node["type"]](self, node, value)

    def run(self, parsed: Any, data: Any) -> Any:
        budget = self._budget
        budget.check_time()
        try:
            result = self.visit(parsed, data)
            # The result goes into a document (an output, an input, a rendered config) that
            # is serialised later, so a selected value costs its size like any placement.
            self._place(result)
        finally:
            budget.spent = self._spent
        return result

    # -- accounting ------------------------------------------------------------------------

    def _tick(self, work: int = 1) -> None:
        self._countdown -= work
        if self._countdown <= 0:
            self._countdown = _CHECK_EVERY
            self._budget.check_time()

    def _charge(self, size: int) -> None:
        self._spent += size
        if self._spent > self._max:
            raise self._budget.too_big()

    def _measure(self, value: Any) -> int:
        """JSON size of a container not built here (memoised: inputs may share references)."""
        entry = self._sizes.get(id(value))
        if entry is not None:
            return int(entry[1])
        self._tick(len(value) + 1)
        size = 2
        if isinstance(value, dict):
            for key, item in value.items():
                size += self._size(key) + self._size(item) + 2
        else:
            for item in value:
                size += self._size(item) + 1
        self._sizes[id(value)] = [value, size, True]
        return size

    def _size(self, value: Any) -> int:
        kind = type(value)
        if kind is str:
            return len(value) + 2
        if kind in _SCALARS:
            return _SCALAR_SIZE
        if kind is dict or kind is list or isinstance(value, dict | list | tuple):
            return self._measure(value)
        return _SCALAR_SIZE

    def _place(self, value: Any) -> int:
        """Charge putting `value` into an array or object being built; return its size + 1."""
        kind = type(value)
        if kind is str:
            size = cost = len(value) + 2
        elif kind in _SCALARS:
            size = cost = _SCALAR_SIZE
        elif kind is dict or kind is list or isinstance(value, dict | list | tuple):
            entry = self._sizes.get(id(value))
            if entry is None:
                size = cost = self._measure(value)
            else:
                size = entry[1]
                if entry[2]:
                    cost = size
                else:
                    entry[2] = True
                    cost = 0
        else:
            size = cost = self._size(value)
        self._spent += cost + 1
        if self._spent > self._max:
            raise self._budget.too_big()
        return size + 1

    def _built(self, value: Any, size: int) -> Any:
        self._charge(2)
        self._sizes[id(value)] = [value, size + 1, False]
        return value

    def _adopt(self, value: Any) -> Any:
        """Account for a container a function or a slice made (sort, map, merge, keys, …)."""
        size = 1
        if isinstance(value, dict):
            for key, item in value.items():
                size += self._place(key) + self._place(item)
        else:
            for item in value:
                size += self._place(item)
        return self._built(value, size)

    # -- visits that build -----------------------------------------------------------------

    def visit_multi_select_list(self, node: _TreeNode, value: Any) -> Any:
        if value is None:
            return None
        collected = [self.visit(child, value) for child in node["children"]]
        size = 1
        for current in collected:
            size += self._place(current)
        return self._built(collected, size)

    def visit_multi_select_dict(self, node: _TreeNode, value: Any) -> Any:
        if value is None:
            return None
        collected = {}
        size = keys = 1
        for child in node["children"]:
            key = child["value"]
            collected[key] = current = self.visit(child["children"][0], value)
            # Keys come from the expression, always strings: counted inline, the hot path.
            keys += len(key) + 3
            size += self._place(current)
        self._spent += keys
        return self._built(collected, size + keys)

    def _project(self, elements: Any, right: _TreeNode) -> Any:
        collected = []
        size = 1
        self._tick(len(elements))
        visit = _DISPATCH[right["type"]]
        for element in elements:
            current = visit(self, right, element)
            if current is not None:
                size += self._place(current)
                collected.append(current)
        return self._built(collected, size)

    def visit_projection(self, node: _TreeNode, value: Any) -> Any:
        base = self.visit(node["children"][0], value)
        if not isinstance(base, list):
            return None
        return self._project(base, node["children"][1])

    def visit_value_projection(self, node: _TreeNode, value: Any) -> Any:
        base = self.visit(node["children"][0], value)
        if not isinstance(base, dict):
            return None
        return self._project(base.values(), node["children"][1])

    def visit_filter_projection(self, node: _TreeNode, value: Any) -> Any:
        base = self.visit(node["children"][0], value)
        if not isinstance(base, list):
            return None
        condition = node["children"][2]
        collected = []
        size = 1
        for element in base:
            self._tick()
            if is_truthy(self.visit(condition, element)):
                current = self.visit(node["children"][1], element)
                if current is not None:
                    size += self._place(current)
                    collected.append(current)
        return self._built(collected, size)

    def visit_flatten(self, node: _TreeNode, value: Any) -> Any:
        base = self.visit(node["children"][0], value)
        if not isinstance(base, list):
            return None
        merged: list[Any] = []
        size = 1
        for element in base:
            if isinstance(element, list):
                self._tick(len(element) + 1)
                for item in element:
                    size += self._place(item)
                merged.extend(element)
            else:
                size += self._place(element)
                merged.append(element)
        return self._built(merged, size)

    def visit_slice(self, node: _TreeNode, value: Any) -> Any:
        if not isinstance(value, list):
            return None
        bounds: Any = node["children"]  # a slice's children are its start, stop and step
        sliced = value[slice(*bounds)]
        self._tick(len(sliced) + 1)
        return self._adopt(sliced)

    def visit_function_expression(self, node: _TreeNode, value: Any) -> Any:
        self._tick()
        args = [self.visit(child, value) for child in node["children"]]
        name = node["value"]
        # These two write their whole result before returning it: check the size first.
        if name == "to_string" and not isinstance(args[0], str):
            self._charge(self._size(args[0]))
        elif name == "join" and isinstance(args[1], list):
            pieces = sum(len(item) for item in args[1] if isinstance(item, str))
            separator = len(args[0]) if isinstance(args[0], str) else 0
            self._charge(pieces + separator * len(args[1]))
        result = _FUNCTIONS.call_function(name, args)
        for arg in args:
            if result is arg:
                return result
        if isinstance(result, dict | list) and id(result) not in self._sizes:
            self._tick(len(result) + 1)
            return self._adopt(result)
        if isinstance(result, str) and name not in ("to_string", "join"):
            self._charge(len(result))
        return result


class _Dispatch(dict[str, Any]):
    def __missing__(self, node_type: str) -> Any:
        return TreeInterpreter.default_visit


_SCALARS = frozenset({int, float, bool, type(None)})
_DISPATCH = _Dispatch(
    (name.removeprefix("visit_"), getattr(_Interpreter, name))
    for name in dir(_Interpreter)
    if name.startswith("visit_")
)


def json_size(value: Any) -> int:
    """About how many bytes `value` takes as JSON, each shared reference at full size, without
    writing it out: work in proportion to the distinct arrays and objects in it."""
    # Measuring charges nothing, and its work is bounded by the value, which already exists.
    return _Interpreter(EvaluationBudget(0, _A_DAY_MS))._size(value)


_A_DAY_MS = 86_400_000


@dataclass(frozen=True, eq=False)
class Expression:
    source: str
    parsed: ParsedResult

    def search(self, data: Any) -> Any:
        """Evaluate against `data` within the active budget (see `EvaluationBudget`)."""
        try:
            budget = _ACTIVE.get() or EvaluationBudget.for_step()
            return _Interpreter(budget).run(self.parsed.parsed, data)
        except _Stop as stop:
            if stop.run_timeout:
                message = f"{stop.reason} while evaluating expression '{self.source}'"
            else:
                message = f"expression '{self.source}' stopped: {stop.reason}"
            raise EvaluationStopped(message, run_timeout=stop.run_timeout) from None
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
