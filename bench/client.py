"""The bench as a user of the system: the JSON API with a bearer token, pages and the
live socket with the session cookie of a user who logged in through the login form."""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from bench.stats import BenchError
from bench.wsclient import Frame, WebSocket, frame_seqs, frame_types

TERMINAL = {"passed", "failed", "cancelled", "error"}
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass(frozen=True)
class Credentials:
    token: str
    cookie: str  # "sessionid=…", for pages and the socket


def log_in(base_url: str, username: str, password: str) -> str:
    """Through the login form, as a browser would; returns the session cookie header."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        page = client.get("/login/")
        found = CSRF_RE.search(page.text)
        if page.status_code != 200 or not found:
            raise BenchError(f"login page: {page.status_code}")
        answer = client.post(
            "/login/",
            data={"username": username, "password": password,
                  "csrfmiddlewaretoken": found.group(1), "next": ""},
            headers={"Referer": f"{base_url}/login/"},
        )  # fmt: skip
        session = client.cookies.get("sessionid")
        if answer.status_code not in (200, 302) or not session:
            raise BenchError(f"login failed: {answer.status_code}")
        return f"sessionid={session}"


class WaitTimeout(BenchError):
    """What the bench waited for did not come in time."""


class Api:
    """Async JSON API calls, one keep-alive connection pool."""

    def __init__(self, base_url: str, credentials: Credentials) -> None:
        self.base_url = base_url
        self.credentials = credentials
        self.http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {credentials.token}"},
            timeout=60,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        answer = await self.http.request(
            method, path, json=body, params={k: v for k, v in params.items() if v is not None}
        )
        if answer.status_code >= 400:
            raise BenchError(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
        return answer.json()

    async def start_run(self, workflow: str, payload: Any, *, mode: str = "auto") -> str:
        body = {"workflow": workflow, "payload": payload, "environment": "local", "mode": mode}
        return str((await self.call("POST", "/api/test-runs", body))["id"])

    async def run(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/api/test-runs/{run_id}")
        return result

    async def events(self, run_id: str) -> list[dict[str, Any]]:
        """The whole stored log, following the API's own paging."""
        events: list[dict[str, Any]] = []
        after = 0
        for _ in range(100_000):  # bounded: 1,000 per page
            page = await self.call("GET", f"/api/test-runs/{run_id}/events", after=after)
            events.extend(page["events"])
            after = page["next_after"]
            if not page.get("has_more"):
                return events
        raise BenchError(f"run {run_id}: the events API never stopped paging")

    async def wait_finished(self, run_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = await self.run(run_id)
            if run["status"] in TERMINAL:
                return run
            await asyncio.sleep(0.05)
        raise BenchError(f"run {run_id} not finished after {timeout:.0f} s")

    async def socket(self, run_id: str) -> LiveView:
        host, port = self.base_url.removeprefix("http://").split(":")
        ws = await WebSocket.connect(
            host, int(port), f"/ws/test-runs/{run_id}/", cookie=self.credentials.cookie
        )
        return LiveView(ws, run_id)


class LiveView:
    """One subscribed socket and every event seq it has shown, in arrival order."""

    def __init__(self, ws: WebSocket, run_id: str) -> None:
        self.ws = ws
        self.run_id = run_id
        self.seqs: list[int] = []
        self.types: dict[int, str] = {}
        self.arrived: dict[int, float] = {}  # seq → time.time() its frame arrived

    async def resume(self, after: int = 0) -> None:
        await self.ws.send_text(json.dumps({"after": after}))

    @property
    def last(self) -> int:
        return self.seqs[-1] if self.seqs else 0

    async def next_frame(self, timeout: float) -> tuple[Frame, dict[int, str]]:
        """The next pushed fragment and the event types it shows (seq → type)."""
        frame = await self.ws.receive(timeout)
        if frame is None:
            raise BenchError(f"socket of run {self.run_id} closed ({self.ws.closed})")
        seqs = frame_seqs(frame.text)
        self.seqs.extend(seqs)
        types = frame_types(frame.text)
        self.types.update(types)
        for seq in seqs:
            self.arrived.setdefault(seq, frame.wall)
        return frame, types

    async def until(self, kinds: set[str], after: int, timeout: float) -> Frame:
        """Read frames until one shows an event of one of `kinds` with seq > `after`."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise TimeoutError
                frame, types = await self.next_frame(left)
            except TimeoutError:
                what = "/".join(sorted(kinds))
                raise WaitTimeout(f"run {self.run_id}: no {what} in {timeout:.0f} s") from None
            if any(seq > after and kind in kinds for seq, kind in types.items()):
                return frame

    async def close(self) -> None:
        await self.ws.close()


def check_log(view: LiveView, stored: list[dict[str, Any]]) -> None:
    """The live view contract: every stored event reached the socket once, in order."""
    seqs = view.seqs
    if len(seqs) != len(set(seqs)):
        twice = len(seqs) - len(set(seqs))
        raise BenchError(f"run {view.run_id}: {twice} events reached the socket twice")
    if seqs != sorted(seqs):
        raise BenchError(f"run {view.run_id}: events reached the socket out of order")
    expected = [event["seq"] for event in stored]
    if expected != list(range(1, len(expected) + 1)):
        raise BenchError(f"run {view.run_id}: the stored seqs are not dense")
    if seqs != expected:
        lost = sorted(set(expected) - set(seqs))
        raise BenchError(
            f"run {view.run_id}: socket showed {len(seqs)} of {len(expected)} events "
            f"(first missing {lost[:5]})"
        )


def event_time(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["ts"]).timestamp()
