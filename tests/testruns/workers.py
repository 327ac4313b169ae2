"""Real worker processes on the test database, and a slow HTTP server for steps to call.

Workers are spawned (not forked: a forked child would share the test process's database
sockets) and run `manage.py testrun_worker`'s code; tests stop them by PID.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.process import BaseProcess
from typing import Any

from django.db import connections


def _work(database: str, environ: dict[str, str]) -> None:
    os.environ.update(environ)
    import django
    from django.conf import settings

    django.setup()
    settings.DATABASES["default"]["NAME"] = database
    from django.core.management import call_command

    call_command("testrun_worker")


class Workers:
    def __init__(self, **environ: str) -> None:
        self.database = str(connections["default"].settings_dict["NAME"])
        self.environ = environ
        self.processes: list[BaseProcess] = []

    def start(self) -> BaseProcess:
        context = multiprocessing.get_context("spawn")
        process = context.Process(target=_work, args=(self.database, self.environ), daemon=True)
        process.start()
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.kill()
            process.join(timeout=10)


@contextmanager
def workers(**environ: str) -> Iterator[Workers]:
    pool = Workers(**environ)
    try:
        yield pool
    finally:
        pool.stop_all()


def signal_process(process: BaseProcess, signum: int = signal.SIGKILL) -> None:
    assert process.pid is not None
    os.kill(process.pid, signum)


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `condition` (a database or server state another process changes) until it is
    truthy; there is no event to await across processes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class SlowServer:
    """Answers every request with JSON after `delay` seconds; remembers each request's
    headers. Listens on 127.0.0.1 only."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.requests: list[dict[str, str]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server.lock:
                    server.requests.append({k.lower(): v for k, v in self.headers.items()})
                time.sleep(server.delay)
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the caller may have been killed meanwhile
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> SlowServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def count(self) -> int:
        with self.lock:
            return len(self.requests)
