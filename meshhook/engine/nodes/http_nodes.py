"""http_call and webhook: turn the rendered config into one outbound request."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from ..context import StepFailure
from ..http import OutboundRequest, Sender, encode_body
from .base import NodeCall, NodeResult

_BODY_METHODS = ("POST", "PUT", "PATCH")


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _checked_url(value: Any, query: Mapping[str, Any]) -> str:
    if not isinstance(value, str):
        raise StepFailure(f"url must render to a string, got {json.dumps(value)[:80]}")
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise StepFailure(f"invalid URL '{value}': {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise StepFailure(f"URL must start with http:// or https:// and name a host, got '{value}'")
    if query:
        params = {
            name: item if isinstance(item, str) else json.dumps(item)
            for name, item in query.items()
        }
        url = url.copy_merge_params(params)
    return str(url)


def _request(
    call: NodeCall, resolved: Mapping[str, Any], method: str, body_key: str
) -> OutboundRequest:
    url = _checked_url(resolved["url"], resolved.get("query") or {})
    headers = {name: _as_text(value) for name, value in (resolved.get("headers") or {}).items()}
    if body_key in resolved:
        body = resolved[body_key]
    else:
        body = call.input if method in _BODY_METHODS else None
    return OutboundRequest(
        method=method,
        url=url,
        headers=headers,
        content=encode_body(body, headers),
        response_type=resolved.get("response_type", "auto"),
        fail_on_status=resolved.get("fail_on_status", True),
        follow_redirects=resolved.get("follow_redirects", True),
    )


def run_http_call(call: NodeCall, resolved: Mapping[str, Any]) -> NodeResult:
    request = _request(call, resolved, resolved.get("method", "GET"), "body")
    return NodeResult(Sender(call, request).send())


def run_webhook(call: NodeCall, resolved: Mapping[str, Any]) -> NodeResult:
    request = _request(call, resolved, resolved.get("method", "POST"), "body_template")
    return NodeResult(Sender(call, request).send())
