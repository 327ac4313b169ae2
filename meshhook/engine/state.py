"""What the executor is given about a run, and what it hands back about finished steps."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from .masking import credential_values

RunStatus = Literal["passed", "failed", "cancelled"]
RecordStatus = Literal["succeeded", "failed", "skipped"]


@dataclass(frozen=True)
class RunInput:
    payload: Any
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)
    run_id: str = "test-run"
    environment: str = "local"

    @property
    def masked_values(self) -> list[str]:
        """What is masked wherever it appears: the secret values and the credentials in the
        request's headers (a typed `Authorization` is no less secret than a stored one)."""
        return [*self.secrets.values(), *credential_values(self.headers)]


@dataclass(frozen=True)
class RunResult:
    status: RunStatus
    reason: str | None = None
    output: Any = None
    failed_node: str | None = None


@dataclass(frozen=True)
class StepRecord:
    """A finished step as later steps see it: `output` is unmasked, they may need real values."""

    status: RecordStatus
    output: Any = None
    error: str | None = None
    branch: bool | None = None
    terminate: RunResult | None = None
    on_error_tolerated: bool = False


SKIPPED = StepRecord(status="skipped")


@dataclass(frozen=True)
class RunState:
    run: RunInput
    steps: Mapping[str, StepRecord] = field(default_factory=dict)

    def with_record(self, node_id: str, record: StepRecord) -> RunState:
        return replace(self, steps={**self.steps, node_id: record})

    def with_skipped(self, ids: Iterable[str]) -> RunState:
        return replace(self, steps={**self.steps, **dict.fromkeys(ids, SKIPPED)})


@dataclass(frozen=True)
class Plan:
    skip: tuple[str, ...]
    next_node: str | None
    finished: RunResult | None
