"""Events and HTTP exchanges a step produces, masked before anyone else sees them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .masking import mask_secrets

Level = Literal["debug", "info", "warning", "error"]
# The events a step can produce; the run's own (queued, started, paused…) are the host's.
StepEventType = Literal["step_started", "http_attempt", "step_succeeded", "step_failed", "log"]


@dataclass(frozen=True)
class EngineEvent:
    type: StepEventType
    node_id: str | None
    level: Level
    message: str
    data: Mapping[str, Any] = field(default_factory=dict)
    iteration: int | None = None


@dataclass(frozen=True)
class HttpExchange:
    request: Mapping[str, Any]
    response: Mapping[str, Any] | None
    duration_ms: int
    attempt: int
    error: str | None = None


class EventRecorder:
    """Collects the events of one top-level step (its loop body included) and streams them."""

    def __init__(
        self,
        secrets: Iterable[str],
        emit: Callable[[EngineEvent], None] | None,
        max_log_lines: int,
    ) -> None:
        self.events: list[EngineEvent] = []
        self._secrets = list(secrets)
        self._emit = emit
        self._max_log_lines = max_log_lines
        self._log_lines: dict[tuple[str, int | None], int] = {}

    def add(
        self,
        type_: StepEventType,
        node_id: str,
        iteration: int | None,
        level: Level,
        message: str,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        event = EngineEvent(
            type=type_,
            node_id=node_id,
            level=level,
            message=mask_secrets(message, self._secrets),
            data=mask_secrets(dict(data or {}), self._secrets),
            iteration=iteration,
        )
        self.events.append(event)
        if self._emit is not None:
            self._emit(event)

    def for_step(self, node_id: str, iteration: int | None) -> StepLog:
        return StepLog(self, node_id, iteration)

    def count_log_line(self, node_id: str, iteration: int | None) -> int:
        key = (node_id, iteration)
        self._log_lines[key] = self._log_lines.get(key, 0) + 1
        return self._log_lines[key]

    @property
    def max_log_lines(self) -> int:
        return self._max_log_lines


@dataclass(frozen=True)
class StepLog:
    """The recorder seen from one step (one node, in one loop iteration or none)."""

    recorder: EventRecorder
    node_id: str
    iteration: int | None

    def event(
        self,
        type_: StepEventType,
        level: Level,
        message: str,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        self.recorder.add(type_, self.node_id, self.iteration, level, message, data)

    def log(self, level: Level, message: str, **data: Any) -> None:
        # A step that logs in a loop would otherwise flood the run's event log.
        count = self.recorder.count_log_line(self.node_id, self.iteration)
        limit = self.recorder.max_log_lines
        if count > limit + 1:
            return
        if count == limit + 1:
            self.event("log", "warning", f"More than {limit} log lines; the rest are dropped.")
            return
        self.event("log", level, message, data)
