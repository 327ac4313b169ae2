"""`make run` on embedded defaults: serves the console, and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from meshhook.demo import sample_for

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def session_pids(session_id: int) -> list[tuple[int, str]]:
    alive = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if os.getsid(int(proc.name)) == session_id:
                    command = (proc / "cmdline").read_text().replace("\0", " ")
                    if command:  # zombies have none
                        alive.append((int(proc.name), command))
            except (ProcessLookupError, PermissionError, FileNotFoundError):
                continue
    return alive


def session_processes(session_id: int) -> list[str]:
    return [command for _pid, command in session_pids(session_id)]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the tracked files, sharing this checkout's virtualenv (no reinstall)."""
    copy = tmp_path / "meshhook"
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    for name in files:
        source = ROOT / name
        if source.is_file():
            target = copy / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)  # keeps mtimes, so make sees the install as fresh
    (copy / ".venv").symlink_to(ROOT / ".venv")
    return copy


@contextmanager
def make_run(checkout: Path) -> Iterator[tuple[httpx.Client, int]]:
    """`make run` in the copy on the embedded defaults, logged in as demo; Ctrl-C at the end
    (and every process of its session must then be gone)."""
    if not (ROOT / ".venv" / ".installed").exists():
        pytest.fail("Run through `make test` so the virtualenv is installed.")
    port = free_port()
    # The embedded defaults: nothing configured, as on a fresh machine.
    configured = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "MESHHOOK_VAR_DIR")
    env = {k: v for k, v in os.environ.items() if k not in configured}
    env.update(PORT=str(port), WORKERS="2")
    make = subprocess.Popen(
        # The copy shares this checkout's virtualenv: never reinstall into it from the copy
        # (that would point the editable install at a temporary directory).
        ["make", "-o", ".venv/.installed", "run"], cwd=checkout, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    output = []
    try:
        assert make.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = make.stdout.readline()
            if not line:
                break
            output.append(line)
            if "Press Ctrl-C" in line:
                break
        text = "".join(output)
        assert f"http://localhost:{port}/" in text, text
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=True)
        login_page = None
        deadline = time.monotonic() + 60  # daphne binds soon after the banner
        while login_page is None and time.monotonic() < deadline:
            try:
                login_page = client.get("/login/")
            except httpx.ConnectError:
                time.sleep(0.1)
        assert login_page is not None, "the web server never answered"
        assert login_page.status_code == 200
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text)
        assert token is not None
        workflows = client.post(
            "/login/",
            data={"username": "demo", "password": "demo", "csrfmiddlewaretoken": token[1]},
            headers={"Referer": f"http://127.0.0.1:{port}/login/"},
        )
        assert workflows.url.path == "/workflows/"
        client.headers.update(
            {"X-CSRFToken": client.cookies["csrftoken"], "Referer": f"http://127.0.0.1:{port}/"}
        )
        yield client, make.pid
    finally:
        os.killpg(make.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        make.wait(timeout=30)
    deadline = time.monotonic() + 15
    while session_processes(make.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert session_processes(make.pid) == []
    assert not (checkout / "var" / "redis.sock").exists() or not _answers(checkout)


def run_to_the_end(client: httpx.Client, workflow: str) -> dict[str, Any]:
    sample = sample_for(workflow)
    body = {"workflow": workflow, "payload": sample.payload, "headers": sample.headers}
    started = client.post("/api/test-runs", json=body)
    assert started.status_code == 201, started.text
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run: dict[str, Any] = client.get(f"/api/test-runs/{started.json()['id']}").json()
        if run["status"] not in ("queued", "running"):
            return run
        time.sleep(0.1)
    pytest.fail(f"the run did not finish: {run}")


def test_make_run_serves_the_console_and_ctrl_c_stops_everything(checkout: Path) -> None:
    with make_run(checkout) as (client, _session):
        workflows = client.get("/workflows/")
        for name in ("Lead to CRM", "Failing payment", "RSS digest", "Order fulfilment"):
            assert re.search(name, workflows.text, re.I), name
        graph = client.get("/workflows/lead-to-crm/")
        assert graph.text.count('class="node') == 6


def test_a_killed_worker_is_restarted_and_the_console_keeps_answering(checkout: Path) -> None:
    with make_run(checkout) as (client, session):
        workers = [cmd for cmd in session_pids(session) if "testrun_worker" in cmd[1]]
        assert len(workers) == 2
        for pid, _cmd in workers:
            os.kill(pid, signal.SIGKILL)
        assert client.get("/workflows/").status_code == 200
        finished = run_to_the_end(client, "rss-digest")
        assert finished["status"] == "passed", finished["error"]
        restarted = [cmd for cmd in session_pids(session) if "testrun_worker" in cmd[1]]
        assert len(restarted) == 2
        assert not {pid for pid, _ in restarted} & {pid for pid, _ in workers}


def _answers(checkout: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX)
    try:
        probe.connect(str(checkout / "var" / "redis.sock"))
        return True
    except OSError:
        return False
    finally:
        probe.close()


WAIT_A_BIT = {
    "schema_version": 1, "name": "Wait a bit", "slug": "wait-a-bit",
    "nodes": [
        {"id": "hook", "type": "webhook_trigger"},
        {"id": "wait", "type": "delay", "config": {"duration_ms": 4000}},
        {"id": "done", "type": "terminate", "config": {"status": "success"}},
    ],
    "edges": [{"source": "hook", "target": "wait"}, {"source": "wait", "target": "done"}],
}  # fmt: skip


def test_ctrl_c_mid_run_leaves_no_run_running_once_the_stack_is_back(checkout: Path) -> None:
    with make_run(checkout) as (client, _session):
        assert client.post("/api/workflows", json=WAIT_A_BIT).status_code == 201
        started = client.post(
            "/api/test-runs", json={"workflow": "wait-a-bit", "honor_delays": True}
        ).json()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            steps = client.get(f"/api/test-runs/{started['id']}").json()["steps"]
            if any(s["node_id"] == "wait" and s["status"] == "running" for s in steps):
                break
            time.sleep(0.1)
        else:
            pytest.fail("the delay step never started")
    # Ctrl-C came mid-delay. Once the stack is back, the run is taken over and finishes.
    with make_run(checkout) as (client, _session):
        finished = None
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and finished is None:
            run = client.get(f"/api/test-runs/{started['id']}").json()
            finished = run if run["status"] not in ("queued", "running") else None
            time.sleep(0.2)
        assert finished is not None, "the run was left running"
        assert finished["status"] == "passed", finished["error"]
        active = client.get("/api/test-runs", params={"status": "queued,running"}).json()
        assert active["results"] == []
