"""The one path every outbound request takes: policy, headers, retries, redirects, size cap."""

from __future__ import annotations

import functools
import json
import random
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import httpx

from .context import StepFailure
from .events import HttpExchange, Level
from .limits import describe_bytes
from .masking import mask_headers, mask_secrets
from .model import RetryPolicy
from .policy import PolicyViolation

if TYPE_CHECKING:
    from .nodes.base import NodeCall

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RECORDED_BODY_CHARS = 65_536
USER_AGENT = "MeshHook-TestRun/1"
DEFAULT_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class OutboundRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    content: bytes | None
    response_type: str
    fail_on_status: bool
    follow_redirects: bool


@dataclass(frozen=True)
class _Response:
    url: str
    status: int
    reason: str
    headers: dict[str, str]
    content: bytes
    encoding: str
    duration_ms: int


class _ResponseTooLarge(Exception):
    pass


def encode_body(value: Any, headers: dict[str, str]) -> bytes | None:
    """JSON unless the body is a string; sets Content-Type unless the node set one."""
    if value is None:
        return None
    has_type = any(name.lower() == "content-type" for name in headers)
    if isinstance(value, str):
        if not has_type:
            headers["Content-Type"] = "text/plain; charset=utf-8"
        return value.encode()
    if not has_type:
        headers["Content-Type"] = "application/json"
    return json.dumps(value, ensure_ascii=False).encode()


def _reason(status: int, given: str) -> str:
    # Servers disagree on case ("NOT FOUND"); the standard phrase reads the same everywhere.
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return given


def _describe_error(exc: Exception, timeout_s: float) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connection timed out after {timeout_s * 1000:.0f} ms"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {timeout_s * 1000:.0f} ms"
    if isinstance(exc, httpx.ConnectError):
        return f"connection failed: {exc}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _text_for_record(content: bytes | None, encoding: str = "utf-8") -> str | None:
    if content is None:
        return None
    text = content.decode(encoding, errors="replace")
    if len(text) > RECORDED_BODY_CHARS:
        return text[:RECORDED_BODY_CHARS] + f"… ({len(text) - RECORDED_BODY_CHARS} more characters)"
    return text


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Building an SSL context loads the CA bundle (~20 ms); one per process is enough.
    return httpx.create_ssl_context()


def _joined_headers(headers: httpx.Headers) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in headers.multi_items():
        key = name.lower()
        joined[key] = f"{joined[key]}, {value}" if key in joined else value
    return joined


class Sender:
    """Sends one node's request, with every attempt, hop and retry recorded on `call`."""

    def __init__(self, call: NodeCall, request: OutboundRequest) -> None:
        self.call = call
        self.request = request
        self.ctx = call.ctx
        self.retry: RetryPolicy = call.node.retry
        self.secrets = list(call.run.secrets.values())
        self.timeout_ms = call.node.timeout_ms or DEFAULT_TIMEOUT_MS

    def send(self) -> dict[str, Any]:
        request, retry = self.request, self.retry
        transport = self.ctx.transport
        with httpx.Client(
            transport=transport, follow_redirects=False, trust_env=False, verify=_ssl_context()
        ) as client:
            attempt = 0
            while True:
                attempt += 1
                self.call.attempts = attempt
                response, problem = self._attempt(client, attempt)
                retryable = response is None or response.status in retry.retryable_status_codes
                if not retryable or attempt >= retry.max_attempts:
                    break
                delay_s = self._backoff_s(attempt, response)
                remaining = self.ctx.remaining_s()
                if remaining is not None and remaining <= delay_s:
                    noun = "attempt" if attempt == 1 else "attempts"
                    raise StepFailure(
                        f"run timeout reached after {attempt} {noun} of {request.method} "
                        f"{request.url}; the last one: {problem}"
                    )
                self.call.log.log(
                    "warning",
                    f"Retrying in {delay_s:.1f} s (attempt {attempt + 1} of "
                    f"{retry.max_attempts}): {problem}",
                    attempt=attempt + 1,
                    delay_ms=round(delay_s * 1000),
                )
                self.ctx.pause(delay_s, "the retry back-off")
        tries = f" (after {attempt} attempts)" if attempt > 1 else ""
        if response is None:
            raise StepFailure(f"{request.method} {request.url} failed{tries}: {problem}")
        envelope = self._envelope(response)
        if request.fail_on_status and response.status >= 400:
            raise StepFailure(
                f"{request.method} {response.url} returned {response.status} "
                f"{response.reason}{tries}".rstrip()
            )
        return envelope

    def _backoff_s(self, attempt: int, response: _Response | None) -> float:
        delay_ms = self.retry.delay_ms(attempt) * random.uniform(0.8, 1.0)
        retry_after = response.headers.get("retry-after", "") if response else ""
        if retry_after.isdigit():
            delay_ms = max(delay_ms, min(int(retry_after) * 1000, self.retry.max_delay_ms))
        return delay_ms / 1000

    def _attempt(self, client: httpx.Client, attempt: int) -> tuple[_Response | None, str]:
        """One attempt, redirects included: (response, its status line) or (None, the error)."""
        self.ctx.check_running()
        method, url = self.request.method, self.request.url
        headers = {"User-Agent": USER_AGENT, **self.request.headers}
        content = self.request.content
        for hop in range(MAX_REDIRECTS + 1):
            try:
                self.ctx.policy.check(url)
            except PolicyViolation as exc:
                raise StepFailure(exc.message) from exc
            except Exception as exc:
                # e.g. DNS failing inside the policy: still the user's problem to see, not a crash.
                raise StepFailure(f"the outbound policy could not check {url}: {exc}") from exc
            timeout_s = self._timeout_s()
            try:
                response = self._exchange(client, method, url, headers, content, timeout_s, attempt)
            except httpx.HTTPError as exc:
                return None, _describe_error(exc, timeout_s)
            location = response.headers.get("location")
            if not (
                self.request.follow_redirects and response.status in REDIRECT_STATUSES and location
            ):
                problem = f"{response.status} {response.reason}".rstrip()
                return response, problem
            if hop == MAX_REDIRECTS:
                raise StepFailure(
                    f"too many redirects: more than {MAX_REDIRECTS} starting at {self.request.url}"
                )
            next_url = str(httpx.URL(url).join(location))
            if httpx.URL(next_url).host != httpx.URL(url).host:
                # Credentials meant for one host must not follow a redirect to another.
                headers = {
                    k: v for k, v in headers.items() if k.lower() not in ("authorization", "cookie")
                }
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                method = "GET" if method != "HEAD" else method
                content = None
                headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            url = next_url
        raise AssertionError("unreachable")  # pragma: no cover

    def _timeout_s(self) -> float:
        timeout_s = self.timeout_ms / 1000
        remaining = self.ctx.remaining_s()
        if remaining is not None:
            if remaining <= 0:
                raise StepFailure("run timeout reached")
            timeout_s = min(timeout_s, remaining)
        return timeout_s

    def _exchange(
        self,
        client: httpx.Client,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
        timeout_s: float,
        attempt: int,
    ) -> _Response:
        sent_headers = {**headers, **self.ctx.policy.headers()}
        recorded_request = {
            "method": method,
            "url": mask_secrets(url, self.secrets),
            "headers": mask_secrets(mask_headers(sent_headers), self.secrets),
            "body": mask_secrets(_text_for_record(content), self.secrets),
        }
        started = time.monotonic()
        try:
            with client.stream(
                method, url, headers=sent_headers, content=content, timeout=timeout_s
            ) as raw:
                body = self._read_capped(raw, started, timeout_s)
                response = _Response(
                    url=url,
                    status=raw.status_code,
                    reason=_reason(raw.status_code, raw.reason_phrase),
                    headers=_joined_headers(raw.headers),
                    content=body,
                    encoding=raw.encoding or "utf-8",
                    duration_ms=round((time.monotonic() - started) * 1000),
                )
        except (httpx.HTTPError, _ResponseTooLarge) as exc:
            duration_ms = round((time.monotonic() - started) * 1000)
            too_large = isinstance(exc, _ResponseTooLarge)
            error = str(exc) if too_large else _describe_error(exc, timeout_s)
            self.call.http.append(
                HttpExchange(
                    recorded_request, None, duration_ms, attempt, mask_secrets(error, self.secrets)
                )
            )
            self.call.log.event(
                "http_attempt",
                "error",
                f"{method} {url} failed after {duration_ms} ms: {error}",
                {
                    "method": method,
                    "url": url,
                    "status": None,
                    "duration_ms": duration_ms,
                    "attempt": attempt,
                    "error": error,
                },
            )
            if too_large:
                raise StepFailure(error) from exc
            raise
        self._record(recorded_request, response, attempt)
        return response

    def _record(self, recorded_request: dict[str, Any], response: _Response, attempt: int) -> None:
        self.call.http.append(
            HttpExchange(
                request=recorded_request,
                response={
                    "status": response.status,
                    "headers": mask_secrets(mask_headers(response.headers), self.secrets),
                    "body": mask_secrets(
                        _text_for_record(response.content, response.encoding), self.secrets
                    ),
                },
                duration_ms=response.duration_ms,
                attempt=attempt,
            )
        )
        level: Level = "info" if response.status < 400 else "warning"
        redirect = (
            response.headers.get("location") if response.status in REDIRECT_STATUSES else None
        )
        suffix = f", redirect to {redirect}" if redirect and self.request.follow_redirects else ""
        self.call.log.event(
            "http_attempt",
            level,
            f"{recorded_request['method']} {response.url} → {response.status} in "
            f"{response.duration_ms} ms{suffix}",
            {
                "method": recorded_request["method"],
                "url": response.url,
                "status": response.status,
                "duration_ms": response.duration_ms,
                "attempt": attempt,
            },
        )

    def _read_capped(self, raw: httpx.Response, started: float, timeout_s: float) -> bytes:
        cap = self.ctx.limits.max_response_bytes
        too_large = f"response from {raw.url} is larger than the {describe_bytes(cap)} limit"
        declared = raw.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise _ResponseTooLarge(too_large)
        chunks: list[bytes] = []
        size = 0
        for chunk in raw.iter_bytes():
            size += len(chunk)
            if size > cap:
                raise _ResponseTooLarge(too_large + "; reading stopped")
            # httpx's timeout is per read; a server dripping bytes must not outlast the step's.
            if time.monotonic() - started > timeout_s:
                raise httpx.ReadTimeout("response took too long")
            chunks.append(chunk)
        return b"".join(chunks)

    def _envelope(self, response: _Response) -> dict[str, Any]:
        return {
            "status": response.status,
            "ok": response.status < 400,
            "headers": response.headers,
            "data": self._data(response),
            "duration_ms": response.duration_ms,
        }

    def _data(self, response: _Response) -> Any:
        kind = self.request.response_type
        text = response.content.decode(response.encoding, errors="replace")
        if kind == "text":
            return text
        if not response.content.strip():
            return None
        content_type = response.headers.get("content-type", "")
        if kind == "json" or "json" in content_type:
            try:
                return json.loads(text)
            except ValueError as exc:
                if kind == "json":
                    raise StepFailure(
                        f"response from {response.url} is not valid JSON: {exc}"
                    ) from exc
        return text
