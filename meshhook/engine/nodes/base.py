"""What a node handler is given and what it returns."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..context import ExecutionContext, LoopFrame
from ..events import HttpExchange, StepLog
from ..model import Node, Workflow
from ..state import RunInput, RunResult, StepRecord


@dataclass(frozen=True)
class NodeRun:
    """One node executed (or skipped) once, unmasked: the executor masks it for the outside."""

    node_id: str
    iteration: int | None
    status: Literal["succeeded", "failed", "skipped"]
    input: Any = None
    output: Any = None
    error: str | None = None
    attempts: int = 0
    mocked: bool = False
    duration_ms: int = 0
    resolved_config: Any = None
    http: tuple[HttpExchange, ...] = ()
    branch: bool | None = None
    terminate: RunResult | None = None
    iterations: tuple[NodeRun, ...] = ()
    tolerated: bool = False

    def record(self) -> StepRecord:
        return StepRecord(
            status=self.status,
            output=self.output,
            error=self.error,
            branch=self.branch,
            terminate=self.terminate,
            on_error_tolerated=self.tolerated,
        )


@dataclass
class NodeCall:
    """One execution of one node. Mutable on purpose: `attempts`, `http` and `iterations` are
    filled in while the handler runs, so they survive when the handler fails part-way."""

    workflow: Workflow
    node: Node
    input: Any
    run: RunInput
    ctx: ExecutionContext
    log: StepLog
    records: Mapping[str, StepRecord]
    run_body: Callable[[str, LoopFrame], NodeRun]
    attempts: int = 1
    http: list[HttpExchange] = field(default_factory=list)
    iterations: list[NodeRun] = field(default_factory=list)


@dataclass(frozen=True)
class NodeResult:
    output: Any
    branch: bool | None = None
    terminate: RunResult | None = None


Handler = Callable[[NodeCall, Mapping[str, Any]], NodeResult]
