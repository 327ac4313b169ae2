"""The live view at real scale, through the real ASGI application, the Redis channel layer and
a burst worker: a 3,000-event loop run and a 500 KB payload arrive whole, once, in order, in
frames under 256 KiB, with the final status, and nothing the browser sends closes the socket."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from testruns.consumers import parse_resume
from testruns.live import MAX_FRAME_BYTES
from testruns.models import RunEvent, TestRun
from tests.factories import make_user, make_workflow, personal_project, start_run
from tests.testruns.big_runs import big_payload, loop_run, payload_definition
from tests.testruns.sockets import run_socket, session_cookie

sockets = pytest.mark.django_db(transaction=True)
SEQ = re.compile(r'class="log-line[^"]*" data-seq="(\d+)"')
STATUS = re.compile(r'id="run-status">(\w+)<')


@dataclass
class Watched:
    """What one socket received: every frame, the log seqs in order, the statuses drawn."""

    frames: list[str] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)

    @property
    def largest(self) -> int:
        return max(len(frame.encode()) for frame in self.frames)

    @property
    def closed_by_server(self) -> bool:
        return any('id="run-socket"' in frame and 'data-live="0"' in frame for frame in self.frames)


async def watch(socket: WebsocketCommunicator, seen: Watched, until_seq: int) -> None:
    """Read frames until the line `until_seq` has arrived; a close fails the test."""
    while not seen.seqs or seen.seqs[-1] < until_seq:
        output = await socket.receive_output(timeout=60)
        assert output["type"] == "websocket.send", f"the socket was closed: {output}"
        html = output["text"]
        seen.frames.append(html)
        seen.seqs += [int(seq) for seq in SEQ.findall(html)]
        seen.statuses += STATUS.findall(html)


def stored_seqs(run: TestRun) -> list[int]:
    return list(RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", flat=True))


@pytest.fixture
def user() -> User:
    return make_user("watcher")


def watch_whole_run(
    run: TestRun, user: User, drain: Callable[[], int]
) -> tuple[Watched, list[int]]:
    """A page open from the start: resume at 0, the worker runs the whole run, then every
    frame up to the last stored event is read."""
    cookie = session_cookie(user)
    seen = Watched()

    async def scenario() -> list[int]:
        socket = run_socket(run, cookie)
        connected, _ = await socket.connect()
        assert connected
        await socket.send_json_to({"after": 0})
        await watch(socket, seen, 1)  # run_queued is already stored
        await database_sync_to_async(drain)()
        stored: list[int] = await database_sync_to_async(stored_seqs)(run)
        await watch(socket, seen, stored[-1])
        assert await socket.receive_nothing(timeout=0.5)  # nothing doubled after the end
        await socket.disconnect()
        return stored

    return seen, async_to_sync(scenario)()


@sockets
@pytest.mark.timeout(400)
def test_a_3000_event_loop_run_arrives_once_in_order_in_small_frames(
    user: User, drain: Callable[[], int]
) -> None:
    run = loop_run(user, 750, body=2)
    seen, stored = watch_whole_run(run, user, drain)
    assert len(stored) >= 3_000
    assert seen.seqs == stored
    assert seen.largest <= MAX_FRAME_BYTES
    assert seen.statuses[-1] == "passed"
    assert seen.closed_by_server  # the finished page's socket is told to close
    # Deltas: the 1,500 iterations are never pushed as rows, only the loop's progress.
    total = sum(len(frame.encode()) for frame in seen.frames)
    assert total < 4 * 1024 * 1024
    summaries = [f for f in seen.frames if 'id="loop-summary-each"' in f]
    assert summaries, "the loop's progress is pushed"
    last_summary = summaries[-1].split('id="loop-summary-each"')[1].split("</summary>")[0]
    assert "750 items" in last_summary
    assert "0 failed" in last_summary


@sockets
@pytest.mark.timeout(200)
def test_a_500_kb_payload_run_arrives_whole_without_the_payload_travelling(
    user: User, drain: Callable[[], int]
) -> None:
    workflow = make_workflow(personal_project(user), payload_definition(), user)
    payload = big_payload(500_000)
    run = start_run(workflow, user, payload=payload)
    seen, stored = watch_whole_run(run, user, drain)
    assert seen.seqs == stored
    assert seen.statuses[-1] == "passed"
    assert seen.largest <= MAX_FRAME_BYTES
    # The trigger's and the copy's 500 KB outputs do not travel: their closed rows load
    # their bodies when opened, and those show previews with their size.
    total = sum(len(frame.encode()) for frame in seen.frames)
    assert total < 100 * 1024
    everything = "".join(seen.frames)
    assert f'"id": {payload["rows"][-1]["id"]}' not in everything
    body_urls = set(re.findall(r'hx-get="(/test-runs/[^"]+/steps/[^"]+/)"', everything))
    assert body_urls
    client = Client()
    client.force_login(user)
    bodies = "".join(client.get(url).content.decode() for url in body_urls)
    assert f'"id": {payload["rows"][-1]["id"]}' not in bodies
    assert "show all" in bodies
    assert "download" in bodies


@sockets
def test_a_socket_opened_half_way_gets_only_what_changed_after_its_line(
    user: User, drain: Callable[[], int]
) -> None:
    run = loop_run(user, 20, body=2)
    drain()
    stored = stored_seqs(run)
    cookie = session_cookie(user)
    seen = Watched()

    async def scenario() -> None:
        socket = run_socket(run, cookie)
        await socket.connect()
        await socket.send_json_to({"after": stored[-3]})
        await watch(socket, seen, stored[-1])
        assert await socket.receive_nothing(timeout=0.3)
        await socket.disconnect()

    async_to_sync(scenario)()
    assert seen.seqs == stored[-2:]
    assert seen.statuses == ["passed"]
    # The header and the steps the last events name; not the 40 iteration rows.
    assert 'id="step-b0-' not in "".join(seen.frames)


MALFORMED = [
    '{"after": 1e309}',
    '{"after": "x"}',
    '{"after": -1}',
    '{"after": true}',
    '{"after": 2.5}',
    '{"after": null}',
    "{}",
    "[]",
    '"after"',
    "not json",
    '{"after": ' + "9" * 5000 + "}",
    '{"after": 99999999999999999999}',
    "[" * 100_000,
    "",
]


@sockets
def test_malformed_messages_are_ignored_and_never_close_the_socket(
    user: User, drain: Callable[[], int]
) -> None:
    run = loop_run(user, 3, body=1)
    drain()
    stored = stored_seqs(run)
    cookie = session_cookie(user)

    async def scenario() -> None:
        socket = run_socket(run, cookie)
        await socket.connect()
        for text in MALFORMED:
            await socket.send_input({"type": "websocket.receive", "text": text})
        await socket.send_to(bytes_data=b'{"after": 0}')
        assert await socket.receive_nothing(timeout=0.5)  # no reply, and no close
        seen = Watched()
        await socket.send_json_to({"after": 0})
        await watch(socket, seen, stored[-1])
        assert seen.seqs == stored
        for text in MALFORMED:
            await socket.send_input({"type": "websocket.receive", "text": text})
        assert await socket.receive_nothing(timeout=0.5)
        again = Watched()
        await socket.send_json_to({"after": stored[-2]})  # still answering
        await watch(socket, again, stored[-1])
        assert again.seqs == stored[-1:]
        await socket.disconnect()

    async_to_sync(scenario)()


@pytest.mark.parametrize("text", MALFORMED)
def test_parse_resume_refuses_malformed_messages(text: str) -> None:
    assert parse_resume(text) is None


@pytest.mark.parametrize("after", [0, 1, 4_711, 2**31 - 1])
def test_parse_resume_accepts_a_seq(after: int) -> None:
    assert parse_resume(f'{{"after": {after}}}') == {"after": after}
