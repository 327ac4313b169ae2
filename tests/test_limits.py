"""Body-size limit in front of Django (meshhook/asgi_limits.py) and the log filter that keeps
query strings out of process logs (meshhook/logfilters.py)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from django.core.asgi import get_asgi_application
from django.test import override_settings

from meshhook.asgi_limits import BodyLimitMiddleware
from meshhook.logfilters import DropQueryString

LIMIT = 4096


class App:
    """An ASGI app that reads the whole body and answers 200 with its length."""

    def __init__(self) -> None:
        self.called = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.called = True
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(size).encode()})


def http_scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": path, "headers": headers,
            "query_string": b"", "http_version": "1.1"}  # fmt: skip


async def call(app: Any, scope: dict[str, Any], chunks: list[bytes]) -> tuple[list[Any], int]:
    """Call `app`; returns the messages it sent and how many times it called receive."""
    sent: list[Any] = []
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        if reads > len(chunks):
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunks[reads - 1], "more_body": reads < len(chunks)}

    async def send(message: Any) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent, reads


def test_a_declared_length_over_the_limit_is_refused_unread_with_the_api_shape() -> None:
    asyncio.run(_test_a_declared_length_over_the_limit_is_refused_unread_with_the_api_shape())


async def _test_a_declared_length_over_the_limit_is_refused_unread_with_the_api_shape() -> None:
    inner = App()
    scope = http_scope("/api/test-runs", [(b"content-length", str(LIMIT + 1).encode())])
    sent, reads = await call(BodyLimitMiddleware(inner, LIMIT), scope, [b"x" * (LIMIT + 1)])
    assert reads == 0
    assert not inner.called
    assert sent[0]["status"] == 413
    assert (b"content-type", b"application/json") in sent[0]["headers"]
    data = json.loads(sent[1]["body"])
    assert set(data) == {"error", "errors"}
    assert data["errors"] == [{"path": "$", "message": data["error"]}]


def test_outside_the_api_the_413_is_a_short_page() -> None:
    asyncio.run(_test_outside_the_api_the_413_is_a_short_page())


async def _test_outside_the_api_the_413_is_a_short_page() -> None:
    scope = http_scope("/workflows/x/test-run/", [(b"content-length", b"99999999")])
    sent, reads = await call(BodyLimitMiddleware(App(), LIMIT), scope, [b""])
    assert reads == 0
    assert sent[0]["status"] == 413
    assert dict(sent[0]["headers"])[b"content-type"].startswith(b"text/html")
    assert b"413" in sent[1]["body"]


def test_a_chunked_body_is_cut_off_once_it_grows_over_the_limit() -> None:
    asyncio.run(_test_a_chunked_body_is_cut_off_once_it_grows_over_the_limit())


async def _test_a_chunked_body_is_cut_off_once_it_grows_over_the_limit() -> None:
    chunks = [b"x" * 1024] * 100  # 100 KiB, no Content-Length
    sent, reads = await call(BodyLimitMiddleware(App(), LIMIT), http_scope("/api/x", []), chunks)
    assert sent[0]["status"] == 413
    assert reads == LIMIT // 1024 + 1  # stopped at the first chunk over the limit
    assert json.loads(sent[1]["body"])["error"]


def test_bodies_within_the_limit_pass_through() -> None:
    asyncio.run(_test_bodies_within_the_limit_pass_through())


async def _test_bodies_within_the_limit_pass_through() -> None:
    chunks = [b"x" * 1000] * 4
    sent, _ = await call(BodyLimitMiddleware(App(), LIMIT), http_scope("/api/x", []), chunks)
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b"4000"


def test_websockets_and_lifespan_are_not_touched() -> None:
    asyncio.run(_test_websockets_and_lifespan_are_not_touched())


async def _test_websockets_and_lifespan_are_not_touched() -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    async def nothing() -> dict[str, Any]:
        raise AssertionError

    async def ignore(message: Any) -> None:
        pass

    await BodyLimitMiddleware(inner, LIMIT)({"type": "websocket", "path": "/ws/"}, nothing, ignore)
    assert seen == ["websocket"]


def test_the_asgi_application_wraps_http_in_the_limit() -> None:
    from meshhook.asgi import application

    assert isinstance(application.application_mapping["http"], BodyLimitMiddleware)


@pytest.mark.django_db
@override_settings(API_MAX_BODY_BYTES=LIMIT, DATA_UPLOAD_MAX_MEMORY_SIZE=LIMIT)
def test_through_django_a_big_api_body_gets_413_json_and_a_big_chunked_one_too() -> None:
    asyncio.run(_test_through_django_a_big_api_body_gets_413_json_and_a_big_chunked_one_too())


async def _test_through_django_a_big_api_body_gets_413_json_and_a_big_chunked_one_too() -> None:
    app = BodyLimitMiddleware(get_asgi_application())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        response = await client.post("/api/test-runs", content=b"{" + b" " * LIMIT + b"}")
        assert response.status_code == 413
        assert response.json()["errors"][0]["path"] == "$"

        async def stream() -> AsyncIterator[bytes]:
            for _ in range(20):
                yield b" " * 1024

        response = await client.post("/api/test-runs", content=stream())
        assert response.status_code == 413
        assert "error" in response.json()

        page = await client.post("/login/", content=b"x" * (LIMIT + 10))
        assert page.status_code == 413
        assert page.headers["content-type"].startswith("text/html")


# --- secrets in process logs ---------------------------------------------------------------


def record(msg: str, args: Any) -> logging.LogRecord:
    return logging.LogRecord(
        "django.channels.server", logging.WARNING, __file__, 1, msg, args, None
    )


def test_an_access_log_line_loses_its_query_string() -> None:
    details = {"method": "GET", "path": "/api/test-runs?token=Canary&x=1", "status": 404,
               "time_taken": 0.01, "client": "127.0.0.1:5000"}  # fmt: skip
    line = record("HTTP %(method)s %(path)s %(status)s [%(time_taken).2f, %(client)s]", details)
    assert DropQueryString().filter(line)
    message = line.getMessage()
    assert "Canary" not in message
    assert "HTTP GET /api/test-runs 404" in message


def test_urls_in_other_log_lines_lose_their_query_strings() -> None:
    line = record("HTTP Request: %s %s", ("GET", "https://api.example.com/x?token=Canary#f"))
    DropQueryString().filter(line)
    assert line.getMessage() == "HTTP Request: GET https://api.example.com/x#f"
    plain = record("Nothing to see at /a/b, really?", ())
    DropQueryString().filter(plain)
    assert plain.getMessage() == "Nothing to see at /a/b, really?"


def test_the_settings_filter_the_console_and_quiet_httpx() -> None:
    def filtered(filters: list[Any]) -> bool:
        return any(isinstance(f, DropQueryString) for f in filters)

    assert any(filtered(handler.filters) for handler in logging.getLogger().handlers)
    assert filtered(logging.getLogger("django.channels.server").filters)
    for name in ("httpx", "httpcore"):
        assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING
