"""Live run view over a websocket: HTML fragments from the run page's own partials.

Protocol: the page connects, then sends a `Resume` message, `{"after": <last seq it
shows>}` (on every reconnect too). The consumer replays what changed after that from the
database and from then on sends what each `RunChanged` wake-up brings, as deltas (see
testruns.live). It tracks the last seq it sent, so a line is never sent twice and,
because it always reads from the database, never skipped. Anything else the browser sends
is ignored; nothing it sends can close the socket.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any, TypedDict

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from meshhook.models import Project
from meshhook.services.projects import can_edit
from testruns.broadcast import RunChanged, run_group
from testruns.live import LiveView
from testruns.queries import runs_for

logger = logging.getLogger(__name__)

FORBIDDEN = 4403
MAX_SEQ = 2**31 - 1  # seq is a PositiveIntegerField
MAX_MESSAGE_CHARS = 200  # a resume message is ~20 characters; anything longer is not one


class Resume(TypedDict):
    """What the page sends on every (re)connect: the seq of the last log line it shows."""

    after: int


def parse_resume(text: str | None) -> Resume | None:
    """The browser's message as a `Resume`, or None for anything malformed."""
    if not text or len(text) > MAX_MESSAGE_CHARS:
        return None
    try:
        message: Any = json.loads(text)
    except ValueError:  # not JSON, or an integer too long to parse
        return None
    if not isinstance(message, dict):
        return None
    after = message.get("after")
    # bool is an int in Python; 1e309 parses as a float (inf); both are refused.
    if type(after) is not int or not 0 <= after <= MAX_SEQ:
        return None
    return {"after": after}


def socket_access(user: Any, run_id: str) -> tuple[bool, bool]:
    """(may watch, may control) the run: its project id and the user's membership, two
    small queries instead of the whole run with its payload and definition."""
    try:
        key = uuid.UUID(run_id)
    except ValueError:
        return False, False
    project_id = runs_for(user).filter(pk=key).values_list("project_id", flat=True).first()
    if project_id is None:
        return False, False
    return True, can_edit(user, Project(pk=project_id))


class TestRunConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]  # channels ships no types
    __test__ = False

    run_id: str
    group: str
    controls: bool
    view: LiveView | None

    async def connect(self) -> None:
        self.run_id = str(self.scope["url_route"]["kwargs"]["run_id"])
        self.view = None
        user = self.scope.get("user")
        await self.accept()
        if user is None:
            await self.close(code=FORBIDDEN)
            return
        viewable, self.controls = await database_sync_to_async(socket_access)(user, self.run_id)
        if not viewable:
            await self.close(code=FORBIDDEN)
            return
        self.group = run_group(self.run_id)
        await self.channel_layer.group_add(self.group, self.channel_name)

    async def disconnect(self, code: int) -> None:
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        resume = parse_resume(text_data)
        if resume is None or not getattr(self, "group", None):
            return
        # What the page shows is all the consumer knows of it: start a fresh view there.
        self.view = LiveView(self.run_id, resume["after"], controls=self.controls)
        await self.send_pending()

    async def run_changed(self, message: RunChanged) -> None:
        last_seq = message.get("last_seq")
        if self.view is None:
            return
        if isinstance(last_seq, int) and last_seq <= self.view.after:
            return
        await self.send_pending()

    async def send_pending(self) -> None:
        view = self.view
        assert view is not None
        while True:
            try:
                frames = await database_sync_to_async(view.next_frames)()
            except Exception:
                # A database hiccup must not close the page's socket; the next wake-up (or
                # the page's own resume) picks up from the same seq.
                logger.exception("Live update of test run %s failed", self.run_id)
                return
            for frame in frames:
                await self.send(text_data=frame)
            if not view.more:
                return  # all stored events were read: no query just to learn that
