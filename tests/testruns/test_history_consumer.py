"""The history page's socket (/ws/test-runs/) through the real ASGI application and the
Redis channel layer: members get the re-rendered row when a run of their project changes;
a user of another project hears nothing about it; anonymous sockets are closed."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from rq import Queue

from testruns.models import TestRun
from tests.factories import MEMBERS, Team, definition, make_run, make_workflow, personal_project
from tests.testruns.sockets import HISTORY, session_cookie, socket_to

pytestmark = pytest.mark.django_db(transaction=True)


def row_of(run: TestRun) -> str:
    return f'<tr id="run-row-{run.id}" hx-swap-oob="true" data-status="cancelled">'


def cancel_through_the_page(team: Team, who: str, run: TestRun) -> Any:
    """Cancel `run` as a browser would: a POST to the run page's cancel action."""
    response = team.client(who).post(f"/test-runs/{run.id}/cancel/")
    assert response.status_code == 302, response.content
    return response


@pytest.mark.parametrize("who", MEMBERS)
def test_member_gets_the_row_of_a_run_of_their_project_that_changes(
    team: Team, who: str, run_queue: Queue
) -> None:
    run = make_run(team.workflow, team.owner)
    cookie = session_cookie(team.user(who))

    async def scenario() -> None:
        socket = socket_to(HISTORY, cookie)
        connected, _ = await socket.connect()
        assert connected
        assert await socket.receive_nothing(timeout=0.3)  # nothing until something changes
        await database_sync_to_async(cancel_through_the_page)(team, "editor", run)
        html = await socket.receive_from(timeout=10)
        assert row_of(run) in html
        assert html.count("<tr ") == 1  # the one row, swapped in place (hx-swap-oob)
        assert "Lead flow" in html
        await socket.disconnect()

    async_to_sync(scenario)()


def test_outsider_hears_nothing_about_other_projects_runs(team: Team, run_queue: Queue) -> None:
    theirs = make_run(team.workflow, team.owner)
    own_workflow = make_workflow(personal_project(team.outsider), definition("own-flow"))
    own = make_run(own_workflow, team.outsider)
    cookie = session_cookie(team.outsider)

    async def scenario() -> None:
        socket = socket_to(HISTORY, cookie)
        connected, _ = await socket.connect()
        assert connected
        await database_sync_to_async(cancel_through_the_page)(team, "editor", theirs)
        assert await socket.receive_nothing(timeout=1)
        # The socket does work: a change in the outsider's own project arrives, alone.
        await database_sync_to_async(cancel_through_the_page)(team, "outsider", own)
        html = await socket.receive_from(timeout=10)
        assert row_of(own) in html
        assert str(theirs.id) not in html
        assert await socket.receive_nothing(timeout=0.5)
        await socket.disconnect()

    async_to_sync(scenario)()


def test_anonymous_is_closed_with_4403_and_gets_no_rows(team: Team, run_queue: Queue) -> None:
    run = make_run(team.workflow, team.owner)

    async def scenario() -> None:
        socket = socket_to(HISTORY, None)
        connected, _ = await socket.connect()
        assert connected
        assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}
        await database_sync_to_async(cancel_through_the_page)(team, "owner", run)
        assert await socket.receive_nothing(timeout=0.5)

    async_to_sync(scenario)()
