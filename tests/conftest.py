"""Fixtures shared by the whole suite: the team (a project with one user per role and an
outsider), the real `testruns` queue, and a burst worker."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import django_rq
import pytest
from rq import Queue
from rq.worker import SimpleWorker

from tests.factories import Team, make_team


@pytest.fixture
def team(db: None) -> Team:
    """A team project with an owner, an editor and a viewer, an outsider, and a workflow."""
    return make_team()


@pytest.fixture
def run_queue() -> Iterator[Queue]:
    """The real `testruns` queue in Redis, empty before and after the test."""
    queue = django_rq.get_queue("testruns")
    queue.empty()
    yield queue
    queue.empty()


class BurstWorker(SimpleWorker):
    """RQ's non-forking worker without its pub/sub listener (remote stop/kill commands):
    stopping that thread waits up to a second per burst, and tests send no commands."""

    def subscribe(self) -> None:
        pass

    def unsubscribe(self) -> None:
        pass


@pytest.fixture
def drain(run_queue: Queue) -> Callable[[], int]:
    """Run every queued job with a burst worker in this process; returns how many ran."""

    def work() -> int:
        ran = 0
        while run_queue.count:
            ran += run_queue.count
            worker = BurstWorker([run_queue], connection=run_queue.connection)
            worker.work(burst=True, with_scheduler=False)
        return ran

    return work
