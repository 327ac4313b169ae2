"""JSON requests for the API tests and the one error shape every API error has."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client


def send(client: Client, method: str, url: str, body: Any = None, **extra: Any) -> Any:
    """A JSON request; returns the response with `.data` set to its decoded JSON."""
    kwargs: dict[str, Any] = {}
    if body is not None:
        kwargs = {"data": json.dumps(body), "content_type": "application/json"}
    elif method.upper() in ("POST", "PUT", "PATCH"):
        # What `curl -X POST` sends; the test client would otherwise send an empty multipart form.
        kwargs = {"data": b"", "content_type": "application/json"}
    response = getattr(client, method.lower())(url, **kwargs, **extra)
    response.data = json.loads(response.content) if response.content else None
    return response


def assert_error(response: Any, status: int, *paths: str) -> None:
    """The one error shape: status, `error` text, and `errors[].path` equal to `paths`."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    data = json.loads(response.content)
    assert set(data) == {"error", "errors"}
    assert isinstance(data["error"], str)
    assert data["error"]
    assert data["errors"], data
    assert all(set(item) == {"path", "message"} for item in data["errors"])
    if paths:
        assert sorted(item["path"] for item in data["errors"]) == sorted(paths), data
