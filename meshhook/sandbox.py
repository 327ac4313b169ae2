"""The built-in sandbox: a tiny HTTP service the demo workflows and tests call.

It lets every demo run offline against this very server (`{{env.SANDBOX_URL}}`), so a
fresh checkout can show retries, failures, XML and loops without any outside service.
Nothing here touches the database; the only state (the flaky counters) lives in Redis
because the web server, the worker and the tests may be separate processes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import django_rq
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.feedgenerator import Rss201rev2Feed
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

MAX_DELAY_MS = 30_000
FLAKY_TTL_SECONDS = 3600
# Keys end up in Redis key names and URLs: keep them short and boring.
_FLAKY_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
# RFC 9110: these never carry a body; sending one anyway would corrupt a kept-alive connection.
_BODYLESS_STATUSES = frozenset({204, 304})


def _on_purpose(response: HttpResponse) -> HttpResponse:
    """Keep a deliberate 5xx out of the error log: it is the sandbox working, not failing.

    Django's request logger skips responses it has already logged; marking ours that way
    is the only hook it offers.
    """
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def _error(status: int, message: str, path: str | None = None) -> JsonResponse:
    payload: dict[str, Any] = {"error": message}
    if path is not None:
        payload["errors"] = [{"path": path, "message": message}]
    return JsonResponse(payload, status=status)


def _parse_body(request: HttpRequest) -> tuple[Any, str | None]:
    """(parsed JSON or None, raw text when the body is not JSON or None)."""
    raw = request.body.decode("utf-8", errors="replace")
    if not raw:
        return None, None
    try:
        return json.loads(raw), None
    except ValueError:
        return None, raw


def _query(request: HttpRequest) -> dict[str, str | list[str]]:
    # A repeated parameter keeps every value; a single one stays a plain string, which is
    # what templates like `{{steps.x.output.data.query.page}}` expect.
    return {key: values[0] if len(values) == 1 else values for key, values in request.GET.lists()}


@csrf_exempt
def echo(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Any method: reflect the request so a test run can show exactly what was sent."""
    parsed, raw = _parse_body(request)
    return JsonResponse(
        {
            "method": request.method,
            "path": request.path,
            "query": _query(request),
            "headers": {name.lower(): value for name, value in request.headers.items()},
            "json": parsed,
            "body": raw,
        }
    )


@csrf_exempt
def status(request: HttpRequest, code: int) -> HttpResponse:
    """Answer with `code`. A 1xx cannot end an HTTP exchange, so clients report a protocol
    error for it: kept on purpose, it is how a broken upstream looks."""
    if not 100 <= code <= 599:
        return _error(400, f"Status must be between 100 and 599, got {code}.", "code")
    if code < 200 or code in _BODYLESS_STATUSES:
        return _on_purpose(HttpResponse(status=code))
    return _on_purpose(JsonResponse({"status": code}, status=code))


@csrf_exempt
async def delay(request: HttpRequest, ms: int) -> JsonResponse:
    # Async so that under daphne a slow answer holds no worker thread.
    waited = min(ms, MAX_DELAY_MS)
    await asyncio.sleep(waited / 1000)
    return JsonResponse({"delayed_ms": waited})


def _flaky_redis_key(key: str) -> str:
    return f"sandbox:flaky:{key}"


@csrf_exempt
def flaky(request: HttpRequest, key: str, n: int) -> HttpResponse:
    """Fail with 503 for the first `n` calls with this key, then succeed: retries made visible."""
    if not _FLAKY_KEY.fullmatch(key):
        return _error(400, "The key must be 1-100 letters, digits, '_', '.', ':' or '-'.", "key")
    redis_key = _flaky_redis_key(key)
    pipeline = django_rq.get_connection("default").pipeline()
    pipeline.incr(redis_key)
    pipeline.expire(redis_key, FLAKY_TTL_SECONDS)
    calls = int(pipeline.execute()[0])
    if calls <= n:
        # No Retry-After: the caller's own back-off policy is what the demos show off.
        failure = JsonResponse(
            {"key": key, "calls": calls, "error": f"Failing on purpose ({calls} of {n})."},
            status=503,
        )
        return _on_purpose(failure)
    return JsonResponse({"key": key, "calls": calls})


@csrf_exempt
@require_http_methods(["POST", "DELETE"])
def flaky_reset(request: HttpRequest, key: str) -> JsonResponse:
    if not _FLAKY_KEY.fullmatch(key):
        return _error(400, "The key must be 1-100 letters, digits, '_', '.', ':' or '-'.", "key")
    django_rq.get_connection("default").delete(_flaky_redis_key(key))
    return JsonResponse({"key": key, "calls": 0})


@dataclass(frozen=True)
class _Post:
    title: str
    slug: str
    description: str
    category: str
    published: datetime

    @property
    def link(self) -> str:
        return f"https://blog.example.com/posts/{self.slug}"


# Fixed dates so the feed, and every run that reads it, is reproducible.
_POSTS = (
    _Post(
        "Retries without the pain",
        "retries-without-the-pain",
        "Exponential back-off, jitter and which status codes deserve a retry.",
        "engineering",
        datetime(2025, 3, 14, 9, 30, tzinfo=UTC),
    ),
    _Post(
        "Test runs are now live in the console",
        "live-test-runs",
        "Watch every step of a workflow turn green, one event at a time.",
        "product",
        datetime(2025, 3, 10, 14, 0, tzinfo=UTC),
    ),
    _Post(
        "JMESPath cheat sheet for webhook payloads",
        "jmespath-cheat-sheet",
        "Projections, filters and multi-select hashes in five minutes.",
        "tutorials",
        datetime(2025, 3, 3, 8, 15, tzinfo=UTC),
    ),
)


@csrf_exempt
def rss(request: HttpRequest) -> HttpResponse:
    """A small static RSS 2.0 feed, for XML-to-JSON demos."""
    feed = Rss201rev2Feed(
        title="MeshHook Sandbox Blog",
        link="https://blog.example.com/",
        description="Made-up posts served by the MeshHook sandbox.",
        language="en",
    )
    for post in _POSTS:
        feed.add_item(
            title=post.title,
            link=post.link,
            description=post.description,
            unique_id=post.link,
            pubdate=post.published,
            categories=[post.category],
        )
    response = HttpResponse(content_type=f"{feed.content_type}; charset=utf-8")
    feed.write(response, "utf-8")
    return response


@csrf_exempt
@require_POST
def contacts(request: HttpRequest) -> JsonResponse:
    """A pretend CRM: 'creates' the contact by echoing it back with an id."""
    parsed, raw = _parse_body(request)
    if raw is not None or not isinstance(parsed, dict):
        return _error(400, "The body must be a JSON object.", "$")
    email = parsed.get("email")
    if not isinstance(email, str) or not email.strip():
        return _error(422, "email is required.", "email")
    # Derived from the email, not random, so re-running a test gives the same id and two
    # runs can be compared line by line.
    contact_id = "ct_" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:12]
    return JsonResponse({**parsed, "id": contact_id, "created": True}, status=201)
