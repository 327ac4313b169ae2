"""What one step runs with: the caller's execution context and the template context."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from .limits import Limits
from .policy import AllowAll, OutboundPolicy
from .state import RunInput, StepRecord

if TYPE_CHECKING:
    from .events import EngineEvent


class _NoOverride:
    def __repr__(self) -> str:
        return "NO_OVERRIDE"


NO_OVERRIDE: Any = _NoOverride()

# Delays and back-offs sleep in slices this long so a cancel or the run deadline is noticed soon.
SLEEP_SLICE_S = 0.1
# How every step error caused by the run's deadline begins, so a host can tell a run timeout
# (its own limit) from the step's failure.
RUN_TIMEOUT = "run timeout reached"


def is_run_timeout(error: str | None) -> bool:
    return bool(error) and str(error).startswith(RUN_TIMEOUT)


class StepFailure(Exception):
    """An expected failure of a step; the message is what the user sees as the step's error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class ExecutionContext:
    policy: OutboundPolicy = field(default_factory=AllowAll)
    honor_delays: bool = False
    mocks: Mapping[str, Any] = field(default_factory=dict)
    input_override: Any = NO_OVERRIDE
    emit: Callable[[EngineEvent], None] | None = None
    deadline: float | None = None
    should_stop: Callable[[], bool] | None = None
    sleep: Callable[[float], None] = time.sleep
    limits: Limits = field(default_factory=Limits)
    transport: httpx.BaseTransport | None = None

    def remaining_s(self) -> float | None:
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()

    def check_running(self) -> None:
        """Raise the step failure a cancel or an exceeded run deadline calls for."""
        if self.should_stop is not None and self.should_stop():
            raise StepFailure("cancelled")
        remaining = self.remaining_s()
        if remaining is not None and remaining <= 0:
            raise StepFailure(RUN_TIMEOUT)

    def pause(self, seconds: float, what: str) -> None:
        """Sleep `seconds` in slices, failing the step at once on cancel or at the deadline."""
        remaining = self.remaining_s()
        if remaining is not None and remaining < seconds:
            raise StepFailure(
                f"{RUN_TIMEOUT}: {what} of {seconds:.1f} s would end after the run deadline"
            )
        # Counting the slices handed to `sleep` (not the wall clock) lets callers inject a sleep
        # that does not block, e.g. tests or a cooperative worker.
        left = seconds
        while left > 0:
            self.check_running()
            piece = min(SLEEP_SLICE_S, left)
            self.sleep(piece)
            left -= piece
        self.check_running()


@dataclass(frozen=True)
class LoopFrame:
    """Where a loop body step runs: the item, and the records of this iteration so far."""

    loop_id: str
    item: Any
    index: int
    records: Mapping[str, StepRecord]


def template_context(
    value: Any,
    run: RunInput,
    records: Mapping[str, StepRecord],
    trigger_id: str,
    frame: LoopFrame | None,
) -> dict[str, Any]:
    """The input's own keys plus the reserved roots; reserved roots win over input keys."""
    context: dict[str, Any] = dict(value) if isinstance(value, dict) else {}
    visible = {**records, **frame.records} if frame is not None else records
    trigger = records.get(trigger_id)
    context.update(
        input=value,
        trigger=trigger.output if trigger is not None else None,
        steps={
            node_id: {"output": record.output, "status": record.status, "error": record.error}
            for node_id, record in visible.items()
        },
        env=dict(run.env),
        secrets=dict(run.secrets),
        run={"id": run.run_id, "environment": run.environment, "test": True},
    )
    if frame is not None:
        context.update(item=frame.item, index=frame.index)
    return context
