"""`make run` on embedded defaults: serves the console, and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def session_processes(session_id: int) -> list[str]:
    alive = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if os.getsid(int(proc.name)) == session_id:
                    alive.append((proc / "cmdline").read_text().replace("\0", " "))
            except (ProcessLookupError, PermissionError, FileNotFoundError):
                continue
    return alive


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


def test_make_run_serves_the_console_and_ctrl_c_stops_everything(checkout: Path) -> None:
    if not (ROOT / ".venv" / ".installed").exists():
        pytest.fail("Run through `make test` so the virtualenv is installed.")
    port = free_port()
    # The embedded defaults: nothing configured, as on a fresh machine.
    configured = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "MESHHOOK_VAR_DIR")
    env = {k: v for k, v in os.environ.items() if k not in configured}
    env["PORT"] = str(port)
    make = subprocess.Popen(
        ["make", "run"], cwd=checkout, env=env, start_new_session=True,
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
        for _ in range(100):  # daphne binds right after the banner
            try:
                login_page = client.get("/login/")
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert login_page.status_code == 200
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text)
        assert token is not None
        workflows = client.post(
            "/login/",
            data={"username": "demo", "password": "demo", "csrfmiddlewaretoken": token[1]},
            headers={"Referer": f"http://127.0.0.1:{port}/login/"},
        )
        assert workflows.url.path == "/workflows/"
        for name in ("Lead to CRM", "Failing payment", "RSS digest", "Order fulfilment"):
            assert re.search(name, workflows.text, re.I), name
        graph = client.get("/workflows/lead-to-crm/")
        assert graph.text.count('class="node') == 6
    finally:
        os.killpg(make.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        make.wait(timeout=30)
    deadline = time.monotonic() + 15
    while session_processes(make.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert session_processes(make.pid) == []
    assert not (checkout / "var" / "redis.sock").exists() or not _answers(checkout)


def _answers(checkout: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX)
    try:
        probe.connect(str(checkout / "var" / "redis.sock"))
        return True
    except OSError:
        return False
    finally:
        probe.close()
