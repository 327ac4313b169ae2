"""`make run`: the web server, WORKERS test-run workers and (when needed) the embedded Redis.

One foreground command that supervises its children: a child that exits is started again
after a back-off (0.5 s, doubling to 30 s, reset once it has stayed up a minute), so a
crashed worker never takes the console down with it. Ctrl-C or SIGTERM stops every
process it started.

The web child is this command again with `--web-only`: daphne in this process, its access
log sent through the `meshhook.access` logger (whose console handler drops query strings,
meshhook/logfilters.py) instead of daphne's own writer, which prints every request with its
full query string to stdout: tokens and signatures passed as query parameters would end up
in the terminal and in whatever collects it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from meshhook import embedded_redis

access_logger = logging.getLogger("meshhook.access")

FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
STABLE_AFTER_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = field(default=None)

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv)
        self.started_at = time.monotonic()
        self.restart_at = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class QueryFreeAccessLog:
    """daphne's action logger (its `AccessLogGenerator` interface), writing to a logger and
    without query strings."""

    def __call__(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        # The whole query goes, whatever it holds (drop_query stops at a quote or a space).
        path = str(details.get("path", "")).split("?", 1)[0]
        client = details.get("client") or "-"
        if protocol == "http" and action == "complete":
            access_logger.info(
                '%s "%s %s" %s %s',
                client,
                details.get("method"),
                path,
                details.get("status") or "-",
                details.get("size") or "-",
            )
        elif protocol == "websocket" and action in WEBSOCKET_ACTIONS:
            access_logger.info('%s "%s %s"', client, WEBSOCKET_ACTIONS[action], path)


WEBSOCKET_ACTIONS = {
    "connecting": "WSCONNECTING",
    "rejected": "WSREJECT",
    "connected": "WSCONNECT",
    "disconnected": "WSDISCONNECT",
}


def web_argv(python: str, host: str, port: int) -> list[str]:
    """The web child: daphne, through this command, with the query-free access log."""
    return [python, "manage.py", "serve", "--web-only", "--host", host, "--port", str(port)]


def run_daphne(host: str, port: int) -> None:
    from daphne import cli

    # daphne's CLI builds its action logger from this name, handing it stdout (the default
    # at verbosity 1), which QueryFreeAccessLog never writes to; everything else (timeouts,
    # endpoints, the reactor) stays the CLI's own.
    cli.AccessLogGenerator = lambda stream: QueryFreeAccessLog()
    cli.CommandLineInterface().run(["-b", host, "-p", str(port), "meshhook.asgi:application"])


class Command(BaseCommand):
    help = "Run web (daphne) + test-run workers (+ embedded Redis) until interrupted."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--workers", type=int, default=settings.WORKERS)
        # The web child of `serve` (see the module's docstring); not for people.
        parser.add_argument("--web-only", action="store_true", help=argparse.SUPPRESS)

    def handle(
        self, *args: Any, port: int, host: str, workers: int, web_only: bool, **options: Any
    ) -> None:
        if web_only:
            run_daphne(host, port)
            return
        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        python = sys.executable
        children: list[Child] = []
        redis_process: subprocess.Popen[bytes] | None = None
        try:
            if settings.EMBEDDED_REDIS and not embedded_redis.is_up(settings.EMBEDDED_REDIS_SOCKET):
                redis_process = embedded_redis.start(settings.EMBEDDED_REDIS_SOCKET)
            children.append(Child("web", web_argv(python, host, port)))
            for number in range(1, max(1, workers) + 1):
                children.append(Child(f"worker {number}", [python, "manage.py", "testrun_worker"]))
            for child in children:
                child.start()
            shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
            self.stdout.write(
                self.style.SUCCESS(f"\n  MeshHook is running at http://{shown_host}:{port}/\n")
                + f"  Log in as demo / demo. {len(children) - 1} worker(s). "
                "Press Ctrl-C to stop.\n"
            )
            while not stopping:
                if redis_process is not None and redis_process.poll() is not None:
                    self.stderr.write("The embedded Redis exited; starting it again.")
                    redis_process = embedded_redis.start(settings.EMBEDDED_REDIS_SOCKET)
                for child in children:
                    self._supervise(child)
                time.sleep(0.2)
        finally:
            processes = [c.process for c in children if c.process is not None]
            if redis_process is not None:
                processes.append(redis_process)  # last: workers hand their runs back first
            self._stop_all(processes)
            self.stdout.write("MeshHook stopped.")

    def _supervise(self, child: Child) -> None:
        now = time.monotonic()
        if child.running:
            if child.failures and now - child.started_at > STABLE_AFTER_SECONDS:
                child.failures = 0
            return
        if child.restart_at is None:
            code = child.process.returncode if child.process is not None else None
            backoff = min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2**child.failures)
            child.failures += 1
            child.restart_at = now + backoff
            self.stderr.write(f"The {child.name} exited (code {code}); restart in {backoff:g} s.")
        elif now >= child.restart_at:
            child.start()

    @staticmethod
    def _stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
