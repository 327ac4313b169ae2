"""The live-view socket through the real ASGI application and the Redis channel layer."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from pytest_httpserver import HTTPServer
from rq import Queue

from meshhook.asgi import application
from testruns.models import RunEvent, TestRun
from tests.factories import (
    EDITORS,
    MEMBERS,
    Team,
    allow_server,
    http_chain_definition,
    make_run,
    make_user,
    make_workflow,
    paused,
    personal_project,
    start_run,
)
from tests.testruns.sockets import run_socket, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)
SEQ = re.compile(r'class="log-line[^"]*" data-seq="(\d+)"')


async def collect(socket: WebsocketCommunicator, until_seq: int, timeout: float = 10) -> list[int]:
    """Seqs of the log lines received, in order, until `until_seq` has arrived."""
    seqs: list[int] = []
    while not seqs or seqs[-1] < until_seq:
        html = await socket.receive_from(timeout=timeout)
        seqs += [int(seq) for seq in SEQ.findall(html)]
    return seqs


def _last_seq(run: TestRun) -> int:
    return RunEvent.objects.filter(run=run).order_by("-seq").values_list("seq", flat=True)[0]


async def last_seq(run: TestRun) -> int:
    seq: int = await database_sync_to_async(_last_seq)(run)
    return seq


@pytest.fixture
def user() -> User:
    return make_user("watcher")


@pytest.fixture
def workflow(user: User, httpserver: HTTPServer) -> Any:
    httpserver.expect_request("/items").respond_with_json({"ok": True})
    base = httpserver.url_for("").rstrip("/")
    allow_server(personal_project(user), base)
    return make_workflow(personal_project(user), http_chain_definition(base))


def test_member_receives_every_event_exactly_once_while_the_run_executes(
    workflow: Any, user: User, drain: Callable[[], int]
) -> None:
    run = start_run(workflow, user)

    cookie = session_cookie(user)

    async def scenario() -> None:
        socket = run_socket(run, cookie)
        connected, _ = await socket.connect()
        assert connected
        await socket.send_json_to({"after": 0})
        seqs = await collect(socket, 1)  # run_queued is already stored
        await database_sync_to_async(drain)()
        final = await last_seq(run)
        seqs += await collect(socket, final)
        assert seqs == list(range(1, final + 1))
        await socket.disconnect()

    async_to_sync(scenario)()


def test_reconnect_with_last_seq_gets_exactly_the_missing_events(
    workflow: Any, user: User, drain: Callable[[], int]
) -> None:
    run = start_run(workflow, user)
    drain()

    cookie = session_cookie(user)

    async def scenario() -> None:
        final = await last_seq(run)
        socket = run_socket(run, cookie)
        await socket.connect()
        await socket.send_json_to({"after": 4})
        assert await collect(socket, final) == list(range(5, final + 1))
        assert await socket.receive_nothing(timeout=0.3)
        await socket.disconnect()

    async_to_sync(scenario)()


def test_page_opened_half_way_then_live_events_follow(
    workflow: Any, user: User, drain: Callable[[], int]
) -> None:
    run = start_run(workflow, user, mode="step")
    drain()  # paused before the trigger

    cookie = session_cookie(user)

    async def scenario() -> None:
        from testruns.services import resume_run

        socket = run_socket(run, cookie)
        await socket.connect()
        shown = await last_seq(run)
        await socket.send_json_to({"after": shown})
        assert await socket.receive_nothing(timeout=0.3)  # nothing missing yet
        await database_sync_to_async(resume_run)(run, steps=None)
        await database_sync_to_async(drain)()
        final = await last_seq(run)
        assert await collect(socket, final) == list(range(shown + 1, final + 1))
        await socket.disconnect()

    async_to_sync(scenario)()


@pytest.mark.parametrize("who", ["outsider", "anonymous"])
def test_outsider_and_anonymous_are_closed_with_4403(workflow: Any, user: User, who: str) -> None:
    run = start_run(workflow, user)
    outsider = make_user("stranger") if who == "outsider" else None
    cookie = session_cookie(outsider) if outsider else None

    async def scenario() -> None:
        socket = run_socket(run, cookie)
        connected, _ = await socket.connect()
        assert connected
        closed = await socket.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": 4403}
        await socket.send_json_to({"after": 0})
        assert await socket.receive_nothing(timeout=0.3)

    async_to_sync(scenario)()


def test_foreign_origin_is_rejected(workflow: Any, user: User) -> None:
    run = start_run(workflow, user)

    cookie = session_cookie(user)

    async def scenario() -> None:
        socket = WebsocketCommunicator(
            application,
            f"/ws/test-runs/{run.id}/",
            headers=[(b"origin", b"http://evil.example"), (b"cookie", cookie)],
        )
        connected, _ = await socket.connect()
        assert not connected

    async_to_sync(scenario)()


def test_idle_socket_outlives_the_redis_client_read_timeout(
    workflow: Any, user: User, drain: Callable[[], int]
) -> None:
    """redis-py 8 + channels_redis dropped idle sockets after ~5 s (channels_redis #422)."""
    run = start_run(workflow, user)

    cookie = session_cookie(user)

    async def scenario() -> None:
        socket = run_socket(run, cookie)
        await socket.connect()
        await socket.send_json_to({"after": 1})
        assert await socket.receive_nothing(timeout=7)  # idle longer than the old timeout
        await database_sync_to_async(drain)()
        final = await last_seq(run)
        assert await collect(socket, final) == list(range(2, final + 1))
        await socket.disconnect()

    async_to_sync(scenario)()


PAUSED_CONTROLS = ('id="btn-next-step"', 'id="btn-continue"', 'id="btn-cancel"')
ACTION_POSTS = ("/advance/", "/continue/", "/cancel/", "/rerun/")


@pytest.mark.parametrize("who", MEMBERS)
def test_only_editors_sockets_carry_the_control_buttons(
    team: Team, who: str, run_queue: Queue
) -> None:
    run = paused(make_run(team.workflow, team.owner, mode="step"), before="hook")
    cookie = session_cookie(team.user(who))
    owner = team.client("owner")
    can_control = who in EDITORS

    async def scenario() -> None:
        socket = run_socket(run, cookie)
        connected, _ = await socket.connect()
        assert connected
        await socket.send_json_to({"after": 0})
        replay = await socket.receive_from(timeout=10)
        assert 'id="run-header"' in replay
        assert 'id="run-status">paused<' in replay
        for button in PAUSED_CONTROLS:
            assert (button in replay) is can_control, button
        # The push after a change is drawn for the same user.
        await database_sync_to_async(owner.post)(f"/test-runs/{run.id}/cancel/")
        pushed = await socket.receive_from(timeout=10)
        assert 'id="run-status">cancelled<' in pushed
        assert ('id="btn-rerun"' in pushed) is can_control
        assert "btn-cancel" not in pushed
        for fragment in (replay, pushed):
            posts = [path for path in ACTION_POSTS if f'{run.id}{path}"' in fragment]
            assert bool(posts) is can_control, posts
        await socket.disconnect()

    async_to_sync(scenario)()
