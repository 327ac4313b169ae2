"""The single hook every outbound request passes through (each redirect hop included)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable


class PolicyViolation(Exception):
    """Raised by a policy to refuse a URL; the message is shown to the user as the step's error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@runtime_checkable
class OutboundPolicy(Protocol):
    def check(self, url: str) -> None: ...

    def headers(self) -> Mapping[str, str]: ...


class AllowAll:
    """Allows every URL and adds no header: for tests, benchmarks and the CLI."""

    def check(self, url: str) -> None:
        return None

    def headers(self) -> Mapping[str, str]:
        return {}
