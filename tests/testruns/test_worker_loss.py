"""Workers that die or are stopped mid-step, with real worker processes on the test
database: the run still finishes, its log stays gapless with one `run_finished`, and the
step in flight runs at most twice."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import connection

from meshhook import embedded_redis
from testruns.models import RunEvent, RunStatus, StepRun, TestRun
from tests.factories import allow_server, make_user, make_workflow, personal_project, start_run
from tests.testruns.workers import SlowServer, signal_process, wait_for, workers

pytestmark = pytest.mark.django_db(transaction=True)

# Short enough for a test, long enough for a loaded machine's heartbeats (every 1.5 s).
FAST_DETECTION = {"RUN_HEARTBEAT_TIMEOUT_SECONDS": "4", "RUN_SWEEP_SECONDS": "1"}


def slow_call(base_url: str) -> dict[str, Any]:
    return {
        "schema_version": 1, "name": "Slow call", "slug": "slow-call",
        "settings": {"default_retry": {"max_attempts": 1}},
        "nodes": [
            {"id": "hook", "type": "webhook_trigger"},
            {"id": "call", "type": "http_call",
             "config": {"method": "GET", "url": f"{base_url}/slow"}, "timeout_ms": 20000},
            {"id": "done", "type": "terminate", "config": {"status": "success"}},
        ],
        "edges": [{"source": "hook", "target": "call"}, {"source": "call", "target": "done"}],
    }  # fmt: skip


@pytest.fixture
def user() -> User:
    return make_user("crashy")


def step_status(run: TestRun, node_id: str) -> str:
    return str(StepRun.objects.get(run=run, node_id=node_id, iteration__isnull=True).status)


def assert_clean_log(run: TestRun) -> None:
    seqs = list(RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    types = list(RunEvent.objects.filter(run=run).order_by("seq").values_list("type", flat=True))
    assert types.count("run_finished") == 1
    assert types[-1] == "run_finished"


def test_a_run_whose_worker_is_killed_mid_step_finishes_on_another(
    user: User, run_queue: Any
) -> None:
    with SlowServer(delay=2.0) as server, workers(**FAST_DETECTION) as pool:
        project = personal_project(user)
        allow_server(project, server.url)
        run = start_run(make_workflow(project, slow_call(server.url)), user)
        doomed = pool.start()
        wait_for(lambda: server.count() == 1, 60, "the first worker to call the server")
        assert step_status(run, "call") == "running"
        signal_process(doomed, signal.SIGKILL)
        killed_at = time.monotonic()
        pool.start()  # the worker that takes over
        wait_for(lambda: TestRun.objects.get(pk=run.pk).is_finished, 30, "the run to finish")
        finished_after = time.monotonic() - killed_at
        run.refresh_from_db()
        assert run.status == RunStatus.PASSED, run.error
        assert finished_after < 15
        assert run.resumes == 1
        assert server.count() == 2  # at least once: the step in flight ran again, once
        keys = {request.get("idempotency-key") for request in server.requests}
        assert keys == {f"{run.id}:call"}
        assert_clean_log(run)


def test_sigterm_mid_step_hands_the_run_back_and_another_worker_finishes_it(
    user: User, run_queue: Any
) -> None:
    with SlowServer(delay=1.0) as server, workers(**FAST_DETECTION) as pool:
        project = personal_project(user)
        allow_server(project, server.url)
        definition = slow_call(server.url)
        definition["nodes"].insert(
            2,
            {
                "id": "again",
                "type": "http_call",
                "config": {"method": "GET", "url": f"{server.url}/2"},
            },
        )
        definition["edges"] = [
            {"source": "hook", "target": "call"}, {"source": "call", "target": "again"},
            {"source": "again", "target": "done"},
        ]  # fmt: skip
        run = start_run(make_workflow(project, definition), user)
        stopping = pool.start()
        wait_for(lambda: server.count() == 1, 60, "the first worker to call the server")
        signal_process(stopping, signal.SIGTERM)
        # It finishes the step in flight, hands the run back and exits promptly.
        stopping.join(timeout=10)
        assert not stopping.is_alive()
        assert step_status(run, "call") == "succeeded"
        assert TestRun.objects.get(pk=run.pk).status == RunStatus.RUNNING
        pool.start()
        wait_for(lambda: TestRun.objects.get(pk=run.pk).is_finished, 30, "the run to finish")
        run.refresh_from_db()
        assert run.status == RunStatus.PASSED, run.error
        assert server.count() == 2  # each step once: nothing ran twice
        assert run.events.filter(message__contains="shutting down").count() == 1
        assert_clean_log(run)


def test_a_double_sigterm_stops_the_worker_at_once_and_the_run_still_finishes(
    user: User, run_queue: Any
) -> None:
    with SlowServer(delay=5.0) as server, workers(**FAST_DETECTION) as pool:
        project = personal_project(user)
        allow_server(project, server.url)
        run = start_run(make_workflow(project, slow_call(server.url)), user)
        stopping = pool.start()
        wait_for(lambda: server.count() == 1, 60, "the first worker to call the server")
        signal_process(stopping, signal.SIGTERM)
        # RQ ignores a second signal within 1 s (a pool and the terminal both sending one).
        time.sleep(1.5)
        signal_process(stopping, signal.SIGTERM)
        stopping.join(timeout=10)
        assert not stopping.is_alive()
        pool.start()
        wait_for(lambda: TestRun.objects.get(pk=run.pk).is_finished, 30, "the run to finish")
        run.refresh_from_db()
        assert run.status == RunStatus.PASSED, run.error
        assert server.count() == 2
        assert_clean_log(run)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _redis_on(port: int, directory: Any) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [str(embedded_redis.redis_server_binary()), "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", str(directory), "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port, socket_timeout=1)
    wait_for(lambda: _pings(client), 10, "the test's redis-server to answer")
    return process


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def test_a_worker_survives_a_redis_outage_mid_step(
    user: User, run_queue: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """Redis (a server of the test's own, on a spare port) stops mid-step and comes back
    6 s later: the worker lives on, the run ends right, and a new run passes."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    server_redis = _redis_on(port, tmp_path)
    # django_rq reads this very dict; setitem puts the suite's own queue back afterwards.
    queues = django_settings.RQ_QUEUES
    monkeypatch.setitem(queues, "testruns", {**queues["testruns"], "URL": url})
    try:
        with SlowServer(delay=2.0) as server, workers(REDIS_URL=url, **FAST_DETECTION) as pool:
            project = personal_project(user)
            allow_server(project, server.url)
            workflow = make_workflow(project, slow_call(server.url))
            run = start_run(workflow, user)
            worker = pool.start()
            wait_for(lambda: server.count() == 1, 60, "the worker to call the server")
            server_redis.terminate()
            server_redis.wait(timeout=10)
            wait_for(lambda: TestRun.objects.get(pk=run.pk).is_finished, 30, "the run to end")
            time.sleep(6)  # the outage itself: Redis stays away while the worker notices
            server_redis = _redis_on(port, tmp_path)
            run.refresh_from_db()
            assert run.status == RunStatus.PASSED, run.error
            assert_clean_log(run)
            assert worker.is_alive()
            later = start_run(workflow, user)
            wait_for(lambda: TestRun.objects.get(pk=later.pk).is_finished, 60, "a new run")
            later.refresh_from_db()
            assert later.status == RunStatus.PASSED, later.error
            assert worker.is_alive()
    finally:
        server_redis.kill()
        server_redis.wait(timeout=10)


def test_terminated_database_connections_mid_step_do_not_fail_the_run(
    user: User, run_queue: Any
) -> None:
    """PostgreSQL drops every connection of the worker (heartbeat, sweeper and driver)
    while its HTTP step runs: the step's success is still recorded, nothing runs twice."""
    if connection.vendor != "postgresql":
        pytest.skip("pg_terminate_backend is PostgreSQL's; CI runs this on PostgreSQL")
    with SlowServer(delay=2.0) as server, workers(**FAST_DETECTION) as pool:
        project = personal_project(user)
        allow_server(project, server.url)
        run = start_run(make_workflow(project, slow_call(server.url)), user)
        pool.start()
        wait_for(lambda: server.count() == 1, 60, "the worker to call the server")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            assert cursor.fetchall(), "the worker had no connection to terminate"
        wait_for(lambda: TestRun.objects.get(pk=run.pk).is_finished, 30, "the run to finish")
        run.refresh_from_db()
        assert run.status == RunStatus.PASSED, run.error
        assert server.count() == 1
        assert run.resumes == 0
        assert_clean_log(run)


def test_a_cancel_during_a_slow_http_call_frees_the_worker_within_a_second(
    user: User, run_queue: Any
) -> None:
    from django.db import connections

    from testruns.driver import RunDriver
    from testruns.services import cancel_run

    with SlowServer(delay=20.0) as server:
        project = personal_project(user)
        allow_server(project, server.url)
        run = start_run(make_workflow(project, slow_call(server.url)), user)
        finished = threading.Event()

        def drive() -> None:
            try:
                RunDriver(str(run.id)).drive()
            finally:
                connections.close_all()
                finished.set()

        threading.Thread(target=drive, daemon=True).start()
        wait_for(lambda: server.count() == 1, 30, "the step to call the server")
        cancel_run(TestRun.objects.get(pk=run.pk))
        cancelled_at = time.monotonic()
        assert finished.wait(timeout=10)
        freed_after = time.monotonic() - cancelled_at
        assert freed_after <= 1.0, f"the worker was busy {freed_after:.2f} s after the cancel"
        run.refresh_from_db()
        assert run.status == RunStatus.CANCELLED
        assert_clean_log(run)
