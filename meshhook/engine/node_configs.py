"""Per node type: which config keys exist, which are required, and how each is checked.

Each checker validates one value and returns its compiled form (a template tree, an
`Expression`, or the plain value), reporting problems instead of raising.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .expressions import ExpressionError, compile_expression
from .headers import HEADER_NAME, is_reserved_header
from .limits import Limits
from .problems import Problems, child_path, describe_type, show_value
from .templates import compile_template

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
WEBHOOK_METHODS = ("POST", "PUT", "PATCH")
RESPONSE_TYPES = ("auto", "json", "text")
XML_DIRECTIONS = ("auto", "xml_to_json", "json_to_xml")
TERMINATE_STATUSES = ("success", "failure", "cancelled")
MAX_DELAY_MS = 86_400_000
_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_ATTRIBUTE_PREFIX = re.compile(r"[^\s<>&\"'=/]{0,8}")


@dataclass(frozen=True)
class Checking:
    path: str
    problems: Problems
    limits: Limits


Checker = Callable[[Any, Checking], Any]


def _template(value: Any, checking: Checking) -> Any:
    return compile_template(
        value, checking.limits.max_expression_length, checking.problems.add, checking.path
    )


def _template_string(value: Any, checking: Checking) -> Any:
    if not isinstance(value, str) or not value.strip():
        checking.problems.add(checking.path, f"must be a non-empty string, got {show_value(value)}")
        return value
    return _template(value, checking)


def _string_map(scalars_allowed: bool) -> Checker:
    def check(value: Any, checking: Checking) -> Any:
        if not isinstance(value, dict):
            checking.problems.add(checking.path, f"must be an object, got {describe_type(value)}")
            return {}
        for key, item in value.items():
            ok = isinstance(item, str) or (scalars_allowed and isinstance(item, int | float))
            if not ok:
                expected = "a string, number or boolean" if scalars_allowed else "a string"
                checking.problems.add(
                    child_path(checking.path, key), f"must be {expected}, got {describe_type(item)}"
                )
        return _template(value, checking)

    return check


def _expression(value: Any, checking: Checking) -> Any:
    if not isinstance(value, str):
        checking.problems.add(
            checking.path, f"must be a JMESPath expression string, got {describe_type(value)}"
        )
        return None
    try:
        return compile_expression(value, checking.limits.max_expression_length)
    except ExpressionError as exc:
        checking.problems.add(checking.path, str(exc))
        return None


def _choice(*choices: str) -> Checker:
    def check(value: Any, checking: Checking) -> Any:
        if value not in choices or not isinstance(value, str):
            listed = ", ".join(choices)
            checking.problems.add(
                checking.path, f"must be one of {listed}; got {show_value(value)}"
            )
        return value

    return check


def _boolean(value: Any, checking: Checking) -> Any:
    if not isinstance(value, bool):
        checking.problems.add(checking.path, f"must be true or false, got {show_value(value)}")
    return value


def integer_between(low: int, high: int) -> Checker:
    def check(value: Any, checking: Checking) -> Any:
        if not is_int(value) or not low <= value <= high:
            checking.problems.add(
                checking.path, f"must be an integer from {low} to {high}, got {show_value(value)}"
            )
        return value

    return check


def _loop_max_items(value: Any, checking: Checking) -> Any:
    return integer_between(1, checking.limits.max_loop_items)(value, checking)


def _pattern(regex: re.Pattern[str], what: str) -> Checker:
    def check(value: Any, checking: Checking) -> Any:
        if not isinstance(value, str) or not regex.fullmatch(value):
            checking.problems.add(checking.path, f"must be {what}, got {show_value(value)}")
        return value

    return check


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class ConfigSpec:
    keys: Mapping[str, Checker]
    required: tuple[str, ...] = ()


_STRING_MAP = _string_map(scalars_allowed=False)


def _headers(value: Any, checking: Checking) -> Any:
    if isinstance(value, dict):
        for name in value:
            path = child_path(checking.path, name)
            if not HEADER_NAME.fullmatch(name):
                checking.problems.add(path, f"{show_value(name)} is not a valid header name")
            elif is_reserved_header(name):
                checking.problems.add(
                    path,
                    f"the {name} header cannot be set by a node: Host, Content-Length, "
                    "Transfer-Encoding, Connection, Upgrade, TE, Trailer, Keep-Alive, Proxy-* "
                    "and X-MeshHook-* come from the URL, the body and MeshHook itself",
                )
    return _STRING_MAP(value, checking)


CONFIG_SPECS: dict[str, ConfigSpec] = {
    "webhook_trigger": ConfigSpec({}),
    "transform": ConfigSpec({"expression": _expression, "template": _template}),
    "xml_json_transform": ConfigSpec(
        {
            "direction": _choice(*XML_DIRECTIONS),
            "attribute_prefix": _pattern(
                _ATTRIBUTE_PREFIX, "at most 8 characters without spaces, quotes, <, >, &, = or /"
            ),
            "root": _pattern(_XML_NAME, "an XML element name"),
        }
    ),
    "http_call": ConfigSpec(
        {
            "method": _choice(*HTTP_METHODS),
            "url": _template_string,
            "headers": _headers,
            "query": _string_map(scalars_allowed=True),
            "body": _template,
            "response_type": _choice(*RESPONSE_TYPES),
            "fail_on_status": _boolean,
            "follow_redirects": _boolean,
        },
        required=("url",),
    ),
    "webhook": ConfigSpec(
        {
            "method": _choice(*WEBHOOK_METHODS),
            "url": _template_string,
            "headers": _headers,
            "body_template": _template,
            "response_type": _choice(*RESPONSE_TYPES),
            "fail_on_status": _boolean,
            "follow_redirects": _boolean,
        },
        required=("url",),
    ),
    "branch": ConfigSpec({"condition": _expression}, required=("condition",)),
    "delay": ConfigSpec(
        {"duration_ms": integer_between(1, MAX_DELAY_MS)}, required=("duration_ms",)
    ),
    "loop": ConfigSpec({"items": _expression, "max_items": _loop_max_items}, required=("items",)),
    "terminate": ConfigSpec(
        {
            "status": _choice(*TERMINATE_STATUSES),
            "reason": _template_string,
            "output": _template,
        },
        required=("status",),
    ),
}


def check_config(
    node_type: str, config: Any, path: str, problems: Problems, limits: Limits
) -> dict[str, Any]:
    """Validate a node's `config` (absent = `None`) and return its compiled form."""
    spec = CONFIG_SPECS[node_type]
    if config is None:
        if spec.required or node_type == "transform":
            needed = (
                "expression or template" if node_type == "transform" else ", ".join(spec.required)
            )
            problems.add(path, f"config is required for a {node_type} node (it needs {needed})")
        return {}
    if not isinstance(config, dict):
        problems.add(path, f"config must be an object, got {describe_type(config)}")
        return {}
    compiled: dict[str, Any] = {}
    for key, value in config.items():
        checker = spec.keys.get(key)
        key_path = child_path(path, key)
        if checker is None:
            known = ", ".join(spec.keys) or "none"
            problems.add(key_path, f"unknown config key '{key}' for {node_type} (known: {known})")
            continue
        compiled[key] = checker(value, Checking(key_path, problems, limits))
    for key in spec.required:
        if key not in config:
            problems.add(child_path(path, key), f"{key} is required for a {node_type} node")
    if node_type == "transform" and ("expression" in config) == ("template" in config):
        problems.add(path, "a transform needs exactly one of expression or template")
    return compiled
