"""Live rows on the history page: when a run of one of the user's projects changes, the
row for it is re-rendered from the same partial the page uses."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string

from meshhook.services.projects import projects_for
from testruns.broadcast import project_group
from testruns.models import TestRun


def _project_ids(user: Any) -> list[int]:
    return list(projects_for(user).values_list("id", flat=True))


def _render_row(run_id: str) -> str:
    run = TestRun.objects.select_related(
        "workflow__project", "workflow_version", "triggered_by"
    ).get(pk=run_id)
    # Out-of-band only here: a socket push has no target, while the page's own filter and
    # pagination responses put rows in place inside the swapped results.
    return render_to_string("testruns/run_list.html#row", {"run": run, "oob": True})


class RunHistoryConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]  # channels ships no types
    groups_joined: list[str]

    async def connect(self) -> None:
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=4403)
            return
        self.groups_joined = [
            project_group(pid) for pid in await database_sync_to_async(_project_ids)(user)
        ]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def run_changed(self, event: dict[str, Any]) -> None:
        # Only rows already on the page are swapped; htmx ignores ids it cannot find.
        await self.send(text_data=await database_sync_to_async(_render_row)(event["run_id"]))
