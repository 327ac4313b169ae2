"""The web server's access log (`make run` → `manage.py serve`): every request is logged, its
query string never, and nothing of it goes to stdout (daphne's own access log prints full
query strings there)."""

from __future__ import annotations

import logging
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from meshhook.management.commands.serve import QueryFreeAccessLog, web_argv

ROOT = Path(__file__).resolve().parent.parent
CANARY = "canary-QUERY-4e1d"


def test_the_access_log_keeps_the_path_and_drops_the_query(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    log = QueryFreeAccessLog()
    with caplog.at_level(logging.INFO, logger="meshhook.access"):
        log(
            "http",
            "complete",
            {
                "client": "127.0.0.1:5000",
                "method": "GET",
                "path": f"/api/test-runs?token={CANARY}&limit=5",
                "status": 200,
                "size": 12,
            },
        )
        log("websocket", "connected", {"client": "127.0.0.1:5001", "path": f"/ws/?t='{CANARY}"})
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        '127.0.0.1:5000 "GET /api/test-runs" 200 12',
        '127.0.0.1:5001 "WSCONNECT /ws/"',
    ]
    assert capsys.readouterr().out == ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def lines_of(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


class Served:
    """The web child `serve` starts, with its stdout and stderr read line by line."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.out: queue.Queue[str] = queue.Queue()
        self.err: queue.Queue[str] = queue.Queue()
        self.seen_err: list[str] = []
        self.readers = []
        for stream, into in ((process.stdout, self.out), (process.stderr, self.err)):
            assert stream is not None
            reader = threading.Thread(target=lines_of, args=(stream, into), daemon=True)
            reader.start()
            self.readers.append(reader)

    def wait_for(self, text: str, timeout: float = 60) -> str:
        """The first stderr line containing `text` (blocks on the next line, no polling)."""
        while True:
            try:
                line = self.err.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"{text!r} not logged; got {self.seen_err}") from None
            self.seen_err.append(line)
            if text in line:
                return line

    def stop(self) -> tuple[list[str], list[str]]:
        """Stop the server; everything it wrote: (stdout lines, stderr lines)."""
        self.process.terminate()
        self.process.wait(timeout=15)
        for reader in self.readers:
            reader.join(timeout=15)  # the pipes are closed: the readers are at their end
        out = [self.out.get() for _ in range(self.out.qsize())]
        err = self.seen_err + [self.err.get() for _ in range(self.err.qsize())]
        return out, err


@pytest.fixture
def served() -> Iterator[tuple[Served, int]]:
    port = free_port()
    process = subprocess.Popen(
        web_argv(sys.executable, "127.0.0.1", port),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield Served(process), port
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=15)


def test_the_web_server_of_make_run_logs_requests_without_their_query(
    served: tuple[Served, int],
) -> None:
    server, port = served
    server.wait_for(f"127.0.0.1:{port}")  # daphne: "Listening on TCP address ..."
    base = f"http://127.0.0.1:{port}"
    response = httpx.get(f"{base}/api/openapi.json?token={CANARY}&x=1")
    assert response.status_code == 200
    assert httpx.get(f"{base}/login/?next=/workflows/%3Fsecret%3D{CANARY}").status_code == 200
    # A quote in the query (browsers leave `'` as is) ends no query early.
    assert httpx.get(f"{base}/api/openapi.json?x='y&token={CANARY}").status_code == 200

    first = server.wait_for('"GET /api/openapi.json"')
    second = server.wait_for('"GET /login/"')
    server.wait_for('"GET /api/openapi.json"')
    assert " 200 " in first
    assert "meshhook.access" in second
    out, err = server.stop()
    assert out == []
    assert CANARY not in "".join(err)
    assert not [line for line in err if "meshhook.access" in line and "?" in line]
