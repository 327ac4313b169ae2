"""`parse_definition`: raw JSON → validated, compiled `Workflow`, or every problem at once."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any, cast

from .expressions import ExpressionError, compile_expression
from .graph import build_graph, check_cycles, check_parents, find_trigger, parse_edges
from .limits import DEFAULT_LIMITS, Limits, describe_bytes, unstorable
from .model import NODE_TYPES, Node, OnError, RetryPolicy, Workflow, WorkflowSettings
from .node_configs import Checking, check_config, integer_between, is_int
from .problems import DefinitionError, Problem, Problems, child_path, describe_type, show_value

SCHEMA_VERSION = 1
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
NODE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NODE_INDEX = re.compile(r"nodes\[(\d+)\]")
MAX_NAME_LENGTH = 200
MAX_TIMEOUT_MS = 3_600_000
MAX_RUN_TIMEOUT_MS = 86_400_000

_TOP_LEVEL_KEYS = ("schema_version", "name", "slug", "description", "settings", "nodes", "edges")
_TOP_LEVEL_IGNORED = ("ui",)
_SETTINGS_KEYS = ("run_timeout_ms", "strict_templates", "default_retry")
_NODE_KEYS = (
    "id",
    "type",
    "label",
    "config",
    "input",
    "retry",
    "timeout_ms",
    "on_error",
    "parent",
    "ui",
)
_RETRY_LIMITS = {
    "max_attempts": (1, 10),
    "initial_delay_ms": (0, 600_000),
    "max_delay_ms": (0, MAX_TIMEOUT_MS),
}


def parse_definition(raw: object, *, limits: Limits | None = None) -> Workflow:
    """Validate `raw` (a decoded JSON document) and return the compiled workflow.

    Raises `DefinitionError` listing every problem found; never any other exception.
    """
    try:
        return _parse_definition(raw, limits or DEFAULT_LIMITS)
    except DefinitionError as error:
        raise DefinitionError(_name_nodes(error.problems, raw)) from None


def _name_nodes(found: list[Problem], raw: object) -> list[Problem]:
    """Each problem inside a node also names the node's id (as the definition spells it)."""
    items = raw.get("nodes") if isinstance(raw, dict) else None
    if not isinstance(items, list):
        return found
    named = []
    for problem in found:
        match = _NODE_INDEX.match(problem.path)
        node = items[int(match[1])] if match and int(match[1]) < len(items) else None
        node_id = node.get("id") if isinstance(node, dict) else None
        if isinstance(node_id, str) and node_id.strip():
            problem = replace(problem, node_id=node_id[:64])
        named.append(problem)
    return named


def _parse_definition(raw: object, limits: Limits) -> Workflow:
    problems = Problems()
    if not isinstance(raw, dict):
        problems.add("$", f"the definition must be a JSON object, got {describe_type(raw)}")
        raise DefinitionError(problems.items)
    # Before anything recursive (json, templates) walks it: deep nesting would otherwise be a
    # RecursionError, and a NUL character a database error when the definition is stored.
    unfit = unstorable(raw, limits.max_json_depth)
    if unfit is not None:
        path, why = unfit
        problems.add(path, f"the value {why}" if path != "$" else f"the definition {why}")
        raise DefinitionError(problems.items)
    try:
        encoded = json.dumps(raw, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        problems.add("$", f"the definition is not plain JSON: {exc}")
        raise DefinitionError(problems.items) from None
    size = len(encoded.encode())
    if size > limits.max_definition_bytes:
        problems.add(
            "$",
            f"the definition is {describe_bytes(size)}, over the limit of "
            f"{describe_bytes(limits.max_definition_bytes)}",
        )
        raise DefinitionError(problems.items)
    document = cast(dict[str, Any], json.loads(encoded))
    workflow = _parse_document(document, problems, limits)
    if problems or workflow is None:
        raise DefinitionError(problems.items)
    return workflow


def _parse_document(
    document: dict[str, Any], problems: Problems, limits: Limits
) -> Workflow | None:
    for key in document:
        if key not in _TOP_LEVEL_KEYS and key not in _TOP_LEVEL_IGNORED:
            problems.add(child_path("$", key), f"unknown field '{key}'")
    version = document.get("schema_version")
    if version != SCHEMA_VERSION or not is_int(version):
        problems.add(
            "schema_version",
            f"schema_version must be {SCHEMA_VERSION}, got {show_value(version)}",
        )
    name = _text(document, "name", "name", problems, required=True)
    slug = document.get("slug")
    if not isinstance(slug, str) or not SLUG.fullmatch(slug):
        problems.add(
            "slug",
            "slug must be 1-64 lowercase letters, digits or dashes, starting with a letter "
            f"or digit; got {show_value(slug)}",
        )
    description = _text(document, "description", "description", problems, required=False)
    settings = _parse_settings(document.get("settings"), problems)
    parsed = _parse_nodes(document.get("nodes"), settings, problems, limits)
    nodes, index_of = parsed or ([], {})
    by_id = {node.id: node for node in nodes}
    check_parents(nodes, index_of, problems)
    raw_nodes = document.get("nodes")
    known_ids = {
        item["id"]
        for item in (raw_nodes if isinstance(raw_nodes, list) else [])
        if isinstance(item, dict) and isinstance(item.get("id"), str)
    }
    indexed_edges = parse_edges(document.get("edges"), by_id, known_ids, problems)
    trigger_id = find_trigger(nodes, index_of, problems) if parsed is not None else ""
    acyclic = check_cycles([node.id for node in nodes], indexed_edges, problems)
    if problems or not acyclic:
        return None
    graph = build_graph(nodes, indexed_edges, trigger_id)
    return Workflow(
        name=cast(str, name),
        slug=cast(str, slug),
        description=description or "",
        settings=settings,
        nodes=tuple(nodes),
        edges=tuple(graph.edges),
        raw=document,
        trigger_id=graph.trigger_id,
        order=graph.order,
        top_level_order=graph.top_level_order,
        _by_id=by_id,
        _incoming=graph.incoming,
        _outgoing=graph.outgoing,
        _body_orders=graph.body_orders,
        _position={node_id: index for index, node_id in enumerate(graph.order)},
    )


def _text(
    holder: dict[str, Any], key: str, path: str, problems: Problems, *, required: bool
) -> str | None:
    value = holder.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        what = "a non-empty string" if required else "a string"
        problems.add(path, f"{key} must be {what}, got {show_value(value)}")
        return None
    if len(value) > MAX_NAME_LENGTH and key != "description":
        problems.add(path, f"{key} is longer than {MAX_NAME_LENGTH} characters")
    return value


def _parse_settings(raw: Any, problems: Problems) -> WorkflowSettings:
    if raw is None:
        return WorkflowSettings()
    if not isinstance(raw, dict):
        problems.add("settings", f"settings must be an object, got {describe_type(raw)}")
        return WorkflowSettings()
    for key in raw:
        if key not in _SETTINGS_KEYS:
            problems.add(child_path("settings", key), f"unknown setting '{key}'")
    run_timeout = raw.get("run_timeout_ms", WorkflowSettings.run_timeout_ms)
    check = integer_between(1, MAX_RUN_TIMEOUT_MS)
    check(run_timeout, Checking("settings.run_timeout_ms", problems, DEFAULT_LIMITS))
    strict = raw.get("strict_templates", True)
    if not isinstance(strict, bool):
        problems.add("settings.strict_templates", "strict_templates must be true or false")
    retry = _parse_retry(
        raw.get("default_retry"), RetryPolicy(), "settings.default_retry", problems
    )
    return WorkflowSettings(
        run_timeout_ms=run_timeout if is_int(run_timeout) else WorkflowSettings.run_timeout_ms,
        strict_templates=strict if isinstance(strict, bool) else True,
        default_retry=retry,
    )


def _parse_retry(raw: Any, base: RetryPolicy, path: str, problems: Problems) -> RetryPolicy:
    """Fields given in `raw` override those of `base`; invalid fields keep the base value."""
    if raw is None:
        return base
    if not isinstance(raw, dict):
        problems.add(path, f"retry must be an object, got {describe_type(raw)}")
        return base
    fields: dict[str, Any] = {}
    for key, value in raw.items():
        key_path = child_path(path, key)
        before = len(problems.items)
        if key in _RETRY_LIMITS:
            low, high = _RETRY_LIMITS[key]
            integer_between(low, high)(value, Checking(key_path, problems, DEFAULT_LIMITS))
        elif key == "backoff_multiplier":
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or not 1 <= value <= 10:
                problems.add(
                    key_path,
                    f"backoff_multiplier must be a number from 1 to 10, got {show_value(value)}",
                )
        elif key == "retryable_status_codes":
            codes_ok = isinstance(value, list) and all(
                is_int(code) and 100 <= code <= 599 for code in value
            )
            if not codes_ok:
                problems.add(
                    key_path,
                    "retryable_status_codes must be an array of HTTP status codes (100-599)",
                )
            else:
                value = tuple(value)
        else:
            problems.add(key_path, f"unknown retry field '{key}'")
        if len(problems.items) == before:
            fields[key] = value
    return RetryPolicy(**{**base.__dict__, **fields})


def _parse_nodes(
    raw: Any, settings: WorkflowSettings, problems: Problems, limits: Limits
) -> tuple[list[Node], dict[str, int]] | None:
    if not isinstance(raw, list):
        problems.add("nodes", f"nodes must be an array, got {show_value(raw)}")
        return None
    if len(raw) > limits.max_nodes:
        problems.add("nodes", f"{len(raw)} nodes, over the limit of {limits.max_nodes}")
        return None
    nodes: list[Node] = []
    index_of: dict[str, int] = {}
    for index, item in enumerate(raw):
        path = f"nodes[{index}]"
        node_id = item.get("id") if isinstance(item, dict) else None
        if isinstance(node_id, str) and node_id in index_of:
            problems.add(
                f"{path}.id",
                f"duplicate id '{node_id}' (already used by nodes[{index_of[node_id]}])",
            )
            continue
        node = _parse_node(item, path, settings, problems, limits)
        if node is not None:
            nodes.append(node)
            index_of[node.id] = index
    return nodes, index_of


def _parse_node(
    item: Any, path: str, settings: WorkflowSettings, problems: Problems, limits: Limits
) -> Node | None:
    if not isinstance(item, dict):
        problems.add(path, f"node must be an object, got {describe_type(item)}")
        return None
    for key in item:
        if key not in _NODE_KEYS:
            problems.add(child_path(path, key), f"unknown node field '{key}'")
    node_id = item.get("id")
    valid_id = isinstance(node_id, str) and NODE_ID.fullmatch(node_id) is not None
    if not valid_id:
        problems.add(
            f"{path}.id",
            f"id must be 1-64 letters, digits, '_' or '-'; got {show_value(node_id)}",
        )
    node_type = item.get("type")
    known_type = isinstance(node_type, str) and node_type in NODE_TYPES
    if not known_type:
        problems.add(
            f"{path}.type",
            f"unknown node type {show_value(node_type)}; expected one of " + ", ".join(NODE_TYPES),
        )
    label = _text(item, "label", f"{path}.label", problems, required=False)
    compiled = (
        check_config(cast(str, node_type), item.get("config"), f"{path}.config", problems, limits)
        if known_type
        else {}
    )
    input_expression = None
    if "input" in item:
        if node_type == "webhook_trigger":
            problems.add(f"{path}.input", "the trigger receives the request; input is not allowed")
        elif not isinstance(item["input"], str):
            problems.add(f"{path}.input", "input must be a JMESPath expression string")
        else:
            try:
                input_expression = compile_expression(item["input"], limits.max_expression_length)
            except ExpressionError as exc:
                problems.add(f"{path}.input", str(exc))
    retry = _parse_retry(item.get("retry"), settings.default_retry, f"{path}.retry", problems)
    timeout_ms = item.get("timeout_ms")
    if timeout_ms is not None:
        integer_between(1, MAX_TIMEOUT_MS)(
            timeout_ms, Checking(f"{path}.timeout_ms", problems, limits)
        )
    on_error = item.get("on_error", "fail")
    if on_error not in ("fail", "continue"):
        problems.add(
            f"{path}.on_error",
            f'on_error must be "fail" or "continue", got {show_value(on_error)}',
        )
    parent = item.get("parent")
    if parent is not None and not isinstance(parent, str):
        problems.add(
            f"{path}.parent", f"parent must be the id of a loop node, got {describe_type(parent)}"
        )
    if not (valid_id and known_type):
        return None
    return Node(
        id=cast(str, node_id),
        type=cast(str, node_type),
        label=label or cast(str, node_id),
        config=item.get("config") or {},
        input=item.get("input") if input_expression else None,
        retry=retry,
        timeout_ms=timeout_ms if is_int(timeout_ms) else None,
        on_error=cast(OnError, on_error if on_error in ("fail", "continue") else "fail"),
        parent=parent if isinstance(parent, str) else None,
        compiled=compiled,
        input_expression=input_expression,
    )
