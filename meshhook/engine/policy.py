"""The single hook every outbound request passes through (each redirect hop included)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable


class PolicyViolation(Exception):
    """Raised by a policy to refuse a URL; the message is shown to the user as the step's error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@runtime_checkable
class OutboundPolicy(Protocol):
    def check(self, url: str) -> Sequence[str] | None:
        """Refuse `url` by raising PolicyViolation, or allow it.

        A policy that resolved the host returns the IP addresses it checked: the request then
        connects only to one of those (in order), never to what a second lookup would answer
        (DNS rebinding). None lets the transport resolve the host itself.
        """
        ...

    def headers(self) -> Mapping[str, str]: ...


class AllowAll:
    """Allows every URL and adds no header: for tests, benchmarks and the CLI."""

    def check(self, url: str) -> Sequence[str] | None:
        return None

    def headers(self) -> Mapping[str, str]:
        return {}
