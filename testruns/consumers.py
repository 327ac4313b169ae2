"""Live run view over a websocket: HTML fragments from the run page's own partials.

Protocol: the page connects, then sends `{"after": <last seq it shows>}` (on every
reconnect too). The consumer replays everything after that from the database and from
then on sends each batch it is woken for. It tracks the last seq it sent, so a line is
never sent twice and, because it always reads from the database, never skipped.
"""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string

from meshhook.services.projects import membership_for
from testruns.eventlog import run_group
from testruns.models import RunEvent, TestRun
from testruns.presenters import run_context
from testruns.queries import user_can_view_run

FORBIDDEN = 4403
MAX_EVENTS_PER_MESSAGE = 500


def can_control(user: Any, run_id: str) -> bool:
    run = TestRun.objects.select_related("project").get(pk=run_id)
    membership = membership_for(user, run.project)
    return membership is not None and membership.can_edit


def render_update(run_id: str, after: int, *, controls: bool) -> tuple[str, int]:
    """The fragments for events after `after`, with the run's state as of after them."""
    # Events first, state second: the state drawn is then at least as new as the last
    # line sent, so a commit landing between the two reads can never leave a stale step.
    events = list(
        RunEvent.objects.filter(run__pk=run_id, seq__gt=after).order_by("seq")[
            :MAX_EVENTS_PER_MESSAGE
        ]
    )
    if not events:
        return "", after
    run = TestRun.objects.select_related(
        "workflow", "workflow_version", "triggered_by", "source_run"
    ).get(pk=run_id)
    context = run_context(run, events_after=None)
    context["events"] = events
    context["can_control"] = controls
    html = render_to_string("testruns/run_detail.html#live_update", context)
    return html, events[-1].seq


class TestRunConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]  # channels ships no types
    __test__ = False

    run_id: str
    group: str
    last_sent: int | None
    controls: bool

    async def connect(self) -> None:
        self.run_id = str(self.scope["url_route"]["kwargs"]["run_id"])
        self.last_sent = None
        user = self.scope.get("user")
        await self.accept()
        if user is None or not await database_sync_to_async(user_can_view_run)(user, self.run_id):
            await self.close(code=FORBIDDEN)
            return
        self.controls = await database_sync_to_async(can_control)(user, self.run_id)
        self.group = run_group(self.run_id)
        await self.channel_layer.group_add(self.group, self.channel_name)

    async def disconnect(self, code: int) -> None:
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            message: Any = json.loads(text_data or "")
            after = int(message["after"])
        except (ValueError, TypeError, KeyError):
            return  # not a resume message; nothing else is accepted from the browser
        if not getattr(self, "group", None):
            return
        self.last_sent = max(0, after)
        await self.send_pending()

    async def run_changed(self, event: dict[str, Any]) -> None:
        if self.last_sent is None or event.get("last_seq", 0) <= self.last_sent:
            return
        await self.send_pending()

    async def send_pending(self) -> None:
        assert self.last_sent is not None
        while True:
            html, last = await database_sync_to_async(render_update)(
                self.run_id, self.last_sent, controls=self.controls
            )
            if not html:
                return
            await self.send(text_data=html)
            self.last_sent = last
