"""Masking of secret values and credential headers before anything leaves the engine."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MASK = "••••••"

_SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "x-auth-token",
    }
)
_SENSITIVE_FRAGMENTS = ("secret", "token", "api-key", "apikey", "api_key", "password")


def is_sensitive_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SENSITIVE_HEADERS or any(part in lowered for part in _SENSITIVE_FRAGMENTS)


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: MASK if is_sensitive_header(name) else value for name, value in headers.items()}


def _ordered_secrets(secrets: Iterable[str]) -> list[str]:
    # Longest first, so a secret that contains another one is masked whole.
    return sorted({s for s in secrets if isinstance(s, str) and s}, key=len, reverse=True)


def _mask_string(text: str, ordered: list[str]) -> str:
    for secret in ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _mask(value: Any, ordered: list[str]) -> Any:
    if isinstance(value, str):
        return _mask_string(value, ordered)
    if isinstance(value, Mapping):
        return {_mask(key, ordered): _mask(item, ordered) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(item, ordered) for item in value]
    return value


def mask_secrets(value: Any, secrets: Iterable[str]) -> Any:
    """Return a copy of `value` with every secret value inside any string replaced by the mask."""
    ordered = _ordered_secrets(secrets)
    if not ordered:
        return value
    return _mask(value, ordered)
