"""Masking of secret values and credential headers before anything leaves the engine."""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

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


# A secret at least this long also has the base64 of it inside longer values masked
# (`Basic base64(user:secret)`); shorter ones would mask chance matches in unrelated data.
MIN_EMBEDDED_BASE64 = 8
_COOKIE_HEADERS = frozenset({"cookie", "set-cookie"})


def credential_values(headers: Mapping[str, str]) -> list[str]:
    """The values of the credential headers among `headers`, to be masked wherever they
    appear, as secret values are: whole, and the credentials inside them that a step may
    pick out on its own (the token after an auth scheme, the `user:password` of Basic and
    its password, each cookie's value) when long enough not to match by chance."""
    values: list[str] = []
    for name, value in headers.items():
        if not isinstance(value, str) or not value.strip() or not is_sensitive_header(name):
            continue
        values.append(value)
        parts: list[str] = []
        scheme, _, credentials = value.strip().partition(" ")
        if credentials.strip():
            parts.append(credentials.strip())
            if scheme.lower() == "basic":
                parts += _basic_credentials(credentials.strip())
        if name.lower() in _COOKIE_HEADERS:
            parts += [pair.partition("=")[2].strip() for pair in value.split(";")]
        values += [part for part in parts if len(part) >= MIN_EMBEDDED_BASE64]
    return values


def _basic_credentials(encoded: str) -> list[str]:
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return []
    return [decoded, decoded.partition(":")[2]]


def _base64_forms(raw: bytes) -> set[str]:
    """The secret's own base64 (standard and URL-safe, with and without padding) and, for
    long enough secrets, the part of the base64 of *any* value containing it that depends
    on the secret alone: one core per alignment of the secret in the 3-byte groups."""
    forms: set[str] = set()
    for encoded in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
        forms |= {encoded, encoded.rstrip("=")}
    if len(raw) >= MIN_EMBEDDED_BASE64:
        for offset, skip in ((0, 0), (1, 2), (2, 3)):
            # Characters before `skip` mix in the unknown bytes before the secret, those
            # after the last whole group the unknown bytes after it.
            encoded = base64.b64encode(b"\0" * offset + raw).decode()
            core = encoded[skip : (offset + len(raw)) // 3 * 4]
            forms |= {core, core.replace("+", "-").replace("/", "_")}
    return forms


def _forms(secret: str) -> set[str]:
    """How `secret` can appear in text: as is, URL-encoded (`%20` and `+` forms, `/` kept or
    not), JSON- or repr-escaped (`\\/` too; once or twice), upper- and lower-cased,
    base64-encoded."""
    forms = {secret, secret.upper(), secret.lower()}
    for safe in ("", "/"):
        forms |= {quote(secret, safe=safe), quote_plus(secret, safe=safe)}
    escaped_forms = {repr(secret)[1:-1]}
    for ascii_only in (True, False):
        escaped = json.dumps(secret, ensure_ascii=ascii_only)[1:-1]
        escaped_forms |= {escaped, escaped.replace("/", "\\/")}
    # Escaped once more, as in the repr() an error message shows or JSON inside JSON (which
    # escapes the quotes of the first escaping too: `"` is `\\\"` there, not `\\"`).
    forms |= escaped_forms | {form.replace("\\", "\\\\") for form in escaped_forms}
    forms |= {json.dumps(form, ensure_ascii=False)[1:-1] for form in escaped_forms}
    forms |= _base64_forms(secret.encode())
    return {form for form in forms if form}


@functools.lru_cache(maxsize=256)
def _pattern(secrets: tuple[str, ...]) -> re.Pattern[str]:
    forms = set().union(*(_forms(secret) for secret in secrets))
    # Longest first, so a form that contains another one is masked whole; case-insensitive,
    # so `%2f`/`%2F` and any casing of the secret are masked too.
    ordered = sorted(forms, key=lambda form: (-len(form), form))
    return re.compile("|".join(re.escape(form) for form in ordered), re.IGNORECASE)


def _ordered_secrets(secrets: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({s for s in secrets if isinstance(s, str) and s}))


def _mask(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return pattern.sub(MASK, value)
    if isinstance(value, Mapping):
        return {_mask(key, pattern): _mask(item, pattern) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(item, pattern) for item in value]
    return value


def mask_secrets(value: Any, secrets: Iterable[str]) -> Any:
    """Return a copy of `value` with every secret value inside any string replaced by the
    mask, in whichever common encoding it appears (see `_forms`)."""
    ordered = _ordered_secrets(secrets)
    if not ordered:
        return value
    return _mask(value, _pattern(ordered))
