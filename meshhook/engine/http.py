"""The one path every outbound request takes: policy, headers, retries, redirects, size cap."""

from __future__ import annotations

import contextlib
import functools
import json
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import httpcore
import httpx

from .context import StepFailure
from .events import HttpExchange, Level
from .headers import merged, without_reserved
from .limits import describe_bytes, too_deep
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
# How often a request in flight looks whether the run was cancelled.
STOP_POLL_S = 0.25
_DEFAULT_PORTS = {"http": 80, "https": 443}


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


def connection_key(url: str) -> tuple[str, int]:
    """(host, port) as httpcore will connect for `url`: IDNA-encoded, IPv6 without brackets."""
    parsed = httpx.URL(url)
    port = parsed.port or _DEFAULT_PORTS.get(parsed.scheme, 0)
    return parsed.raw_host.decode("ascii").lower(), port


class PinnedBackend(httpcore.NetworkBackend):
    """Opens connections only to the addresses the outbound policy checked.

    Each hop announces its (host, port) with `pin` before it is sent; a connection to
    anything not announced is refused. Resolving the name again at connect time would let a
    DNS answer that changed since the check (rebinding) choose where the request goes.
    TLS is untouched: certificates are still verified against the host name.
    """

    def __init__(self, inner: httpcore.NetworkBackend | None = None) -> None:
        self.inner = inner or httpcore.SyncBackend()
        self._pins: dict[tuple[str, int], tuple[str, ...] | None] = {}
        self._streams: list[httpcore.NetworkStream] = []

    def abort(self) -> None:
        """Shut down every connection opened so far, from any thread: a read blocked on one
        fails at once (closing the socket alone would not wake it)."""
        for stream in list(self._streams):
            sock = stream.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def pin(self, url: str, addresses: Sequence[str] | None) -> None:
        """`addresses` checked for `url`'s host; None: the policy did not resolve it."""
        if isinstance(addresses, str):
            addresses = (addresses,)
        self._pins[connection_key(url)] = None if addresses is None else tuple(addresses)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        key = (host.lower(), port)
        if key not in self._pins:
            raise httpcore.ConnectError(f"{host}:{port} was not checked by the outbound policy")
        addresses = self._pins[key]
        if addresses is None:
            stream = self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
            self._streams.append(stream)
            return stream
        error = httpcore.ConnectError(f"the outbound policy allowed no address of {host}")
        for address in addresses:
            try:
                stream = self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                error = exc
            else:
                self._streams.append(stream)
                return stream
        raise error


class PinnedTransport(httpx.HTTPTransport):
    """httpx's own transport, connecting through a `PinnedBackend` (`.backend`).

    The engine builds one per request; tests may pass one as `ExecutionContext.transport`
    with a `network_backend` of their own (e.g. one that refuses non-loopback addresses) or
    a `verify` context trusting their own certificate authority.
    """

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | bool = True,
        network_backend: httpcore.NetworkBackend | None = None,
    ) -> None:
        context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify)
        super().__init__(verify=context, trust_env=False)
        self.backend = PinnedBackend(network_backend)
        limits = httpx.Limits()
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=self.backend,
        )


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


@contextlib.contextmanager
def _abort_on_stop(
    abort: Callable[[], None], should_stop: Callable[[], bool] | None
) -> Iterator[None]:
    """While a request is in flight, look at `should_stop` every STOP_POLL_S from a second
    thread and `abort` the connection when it says so: the blocked read then fails at once,
    so a cancel frees the worker within a second instead of when the server answers."""
    if should_stop is None:
        yield
        return
    done = threading.Event()

    def watch() -> None:
        while not done.wait(STOP_POLL_S):
            if should_stop():
                abort()
                return

    watcher = threading.Thread(target=watch, daemon=True, name="http-cancel-watch")
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


class Sender:
    """Sends one node's request, with every attempt, hop and retry recorded on `call`."""

    def __init__(self, call: NodeCall, request: OutboundRequest) -> None:
        self.call = call
        self.request = request
        self.ctx = call.ctx
        self.retry: RetryPolicy = call.node.retry
        self.secrets = call.run.masked_values
        self.timeout_ms = call.node.timeout_ms or DEFAULT_TIMEOUT_MS
        headers, dropped = without_reserved(request.headers)
        if dropped:
            call.log.log(
                "warning",
                f"Not sent as given (MeshHook sets these itself): {', '.join(dropped)}.",
            )
        if not any(name.lower() == "user-agent" for name in headers):
            headers = {"User-Agent": USER_AGENT, **headers}
        self.headers = headers
        self.pins: PinnedBackend | None = None

    def send(self) -> dict[str, Any]:
        request, retry = self.request, self.retry
        transport = self.ctx.transport or PinnedTransport(verify=_ssl_context())
        if isinstance(transport, PinnedTransport):
            self.pins = transport.backend
        with httpx.Client(transport=transport, follow_redirects=False, trust_env=False) as client:
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

    def _abort(self, client: httpx.Client) -> None:
        if self.pins is not None:
            self.pins.abort()
        client.close()

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
        headers = self.headers
        content = self.request.content
        for hop in range(MAX_REDIRECTS + 1):
            try:
                checked = self.ctx.policy.check(url)
            except PolicyViolation as exc:
                raise StepFailure(exc.message) from exc
            except Exception as exc:
                # e.g. DNS failing inside the policy: still the user's problem to see, not a crash.
                raise StepFailure(f"the outbound policy could not check {url}: {exc}") from exc
            if self.pins is not None:
                self.pins.pin(url, checked)
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
        # Lets the receiver drop a duplicate: a step in flight when its worker was lost runs
        # again (DESIGN: at-least-once), with the same key. A node's own header wins.
        key = f"{self.call.run.run_id}:{self.call.log.node_id}"
        if self.call.log.iteration is not None:
            key += f":{self.call.log.iteration}"
        sent_headers = merged(merged({"Idempotency-Key": key}, headers), self.ctx.policy.headers())
        recorded_request = {
            "method": method,
            "url": mask_secrets(url, self.secrets),
            "headers": mask_secrets(mask_headers(sent_headers), self.secrets),
            "body": mask_secrets(_text_for_record(content), self.secrets),
        }
        started = time.monotonic()
        try:
            with (
                _abort_on_stop(functools.partial(self._abort, client), self.ctx.should_stop),
                client.stream(
                    method, url, headers=sent_headers, content=content, timeout=timeout_s
                ) as raw,
            ):
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
        except (httpx.HTTPError, _ResponseTooLarge, RuntimeError) as exc:
            if self.ctx.should_stop is not None and self.ctx.should_stop():
                # The watcher closed the client under the request: the run was cancelled.
                raise StepFailure("cancelled") from exc
            if isinstance(exc, RuntimeError):
                raise
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
                data = json.loads(text)
            except RecursionError:
                data = None
                deep: str | None = "$"
            except ValueError as exc:
                if kind == "json":
                    raise StepFailure(
                        f"response from {response.url} is not valid JSON: {exc}"
                    ) from exc
                return text
            else:
                deep = too_deep(data, self.ctx.limits.max_json_depth)
            if deep is not None:
                raise StepFailure(
                    f"response from {response.url} nests deeper than "
                    f"{self.ctx.limits.max_json_depth} levels (at {deep})"
                )
            return data
        return text
