"""Waking live viewers without holding up whoever wrote the events.

`async_to_sync(group_send)` per batch costs a new event loop, a Redis connection and
2–3 ms of the writer's time, twice (run group and project group). Instead each process has
one background thread with one event loop and its own channel-layer instance: `notify`
only records "run R has events up to seq N" and returns. The sender coalesces: if a run
is notified ten times before the loop gets to it, its viewers are woken once, with the
newest seq. That loses nothing, because a wake-up only says "read from the database what
you have not sent yet" (see eventlog); a late or lost wake-up costs latency, never lines.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
import time
import uuid
from typing import Any, Literal, TypedDict

from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers

logger = logging.getLogger(__name__)


class RunChanged(TypedDict):
    """What a run's group receives: events up to `last_seq` are stored."""

    type: Literal["run.changed"]
    last_seq: int


class ProjectRunChanged(RunChanged):
    """What a project's history pages receive: which run changed."""

    run_id: str


def run_group(run_id: uuid.UUID | str) -> str:
    return f"testrun.{run_id}"


def project_group(project_id: int) -> str:
    return f"project.{project_id}.runs"


class Broadcaster:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[int, int]] = {}  # run id → (last seq, project id)
        self._in_flight = 0
        self._idle = threading.Condition(self._lock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._started = threading.Event()

    def notify(self, run_id: uuid.UUID | str, last_seq: int, project_id: int) -> None:
        key = str(run_id)
        with self._lock:
            known = self._pending.get(key)
            if known is None or known[0] < last_seq:
                self._pending[key] = (last_seq, project_id)
        self._ensure_started()
        assert self._loop is not None
        assert self._wake is not None
        self._loop.call_soon_threadsafe(self._wake.set)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything notified so far has been sent (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def _ensure_started(self) -> None:
        if self._started.is_set():
            return
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                thread = threading.Thread(target=self._run, daemon=True, name="run-broadcast")
                thread.start()
        self._started.wait()

    def _run(self) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._send_forever())

    async def _send_forever(self) -> None:
        self._wake = asyncio.Event()
        try:
            # An instance of its own: a channel layer's connections belong to one event loop.
            layer: Any = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        finally:
            self._started.set()
        while True:
            await self._wake.wait()
            self._wake.clear()
            with self._lock:
                batch, self._pending = self._pending, {}
                self._in_flight = len(batch)
            for run_id, (last_seq, project_id) in batch.items():
                try:
                    await self._send(layer, run_id, last_seq, project_id)
                except Exception:  # a broadcast failure never fails a run; viewers catch up
                    logger.warning("Could not broadcast test run %s", run_id, exc_info=True)
            with self._idle:
                self._in_flight = 0
                self._idle.notify_all()

    @staticmethod
    async def _send(layer: Any, run_id: str, last_seq: int, project_id: int) -> None:
        to_run: RunChanged = {"type": "run.changed", "last_seq": last_seq}
        await layer.group_send(run_group(run_id), to_run)
        to_project: ProjectRunChanged = {**to_run, "run_id": run_id}
        await layer.group_send(project_group(project_id), to_project)


broadcaster = Broadcaster()
# What was committed just before a worker or the web process exits still wakes its viewers.
atexit.register(broadcaster.flush, 2.0)
