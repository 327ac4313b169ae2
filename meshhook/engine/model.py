"""Typed, immutable objects a validated definition is turned into."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .expressions import Expression

NODE_TYPES: tuple[str, ...] = (
    "webhook_trigger",
    "transform",
    "xml_json_transform",
    "http_call",
    "webhook",
    "branch",
    "delay",
    "loop",
    "terminate",
)

OnError = Literal["fail", "continue"]
When = Literal["true", "false"]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    initial_delay_ms: int = 1000
    backoff_multiplier: float = 2
    max_delay_ms: int = 30000
    retryable_status_codes: tuple[int, ...] = (408, 429, 500, 502, 503, 504)

    def delay_ms(self, failed_attempt: int) -> float:
        """Back-off before the attempt after `failed_attempt` (1-based), before jitter."""
        delay = self.initial_delay_ms * self.backoff_multiplier ** (failed_attempt - 1)
        return float(min(delay, self.max_delay_ms))


@dataclass(frozen=True)
class WorkflowSettings:
    run_timeout_ms: int = 300_000
    strict_templates: bool = True
    default_retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True, eq=False)
class Node:
    id: str
    type: str
    label: str
    config: Mapping[str, Any]
    input: str | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_ms: int | None = None
    on_error: OnError = "fail"
    parent: str | None = None
    # Config with templates and JMESPath compiled at parse time: same keys as `config`, values
    # are `TemplateString`/`Expression` objects or rebuilt containers.
    compiled: Mapping[str, Any] = field(default_factory=dict, repr=False)
    input_expression: Expression | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    when: When | None = None
    id: str | None = None


@dataclass(frozen=True, eq=False)
class Workflow:
    name: str
    slug: str
    description: str
    settings: WorkflowSettings
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    raw: dict[str, Any]
    trigger_id: str
    order: tuple[str, ...]
    top_level_order: tuple[str, ...]
    _by_id: Mapping[str, Node] = field(repr=False)
    _incoming: Mapping[str, tuple[Edge, ...]] = field(repr=False)
    _outgoing: Mapping[str, tuple[Edge, ...]] = field(repr=False)
    _body_orders: Mapping[str, tuple[str, ...]] = field(repr=False)
    _position: Mapping[str, int] = field(repr=False)

    def node(self, node_id: str) -> Node:
        return self._by_id[node_id]

    def has_node(self, node_id: str) -> bool:
        return node_id in self._by_id

    def incoming(self, node_id: str) -> tuple[Edge, ...]:
        return self._incoming.get(node_id, ())

    def outgoing(self, node_id: str) -> tuple[Edge, ...]:
        return self._outgoing.get(node_id, ())

    def body_order(self, loop_id: str) -> tuple[str, ...]:
        return self._body_orders.get(loop_id, ())

    def position(self, node_id: str) -> int:
        """Index of the node in `order`: 'latest in topological order' compares these."""
        return self._position[node_id]
