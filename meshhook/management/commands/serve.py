"""`make run`: the web server, a test-run worker and (when needed) the embedded Redis.

One foreground command that owns its children: Ctrl-C or SIGTERM stops every process it
started, and a child that dies takes the others down with it instead of leaving a
half-working console.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from meshhook import embedded_redis


class Command(BaseCommand):
    help = "Run web (daphne) + test-run worker (+ embedded Redis) until interrupted."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args: Any, port: int, host: str, **options: Any) -> None:
        children: list[subprocess.Popen[bytes]] = []
        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            if settings.EMBEDDED_REDIS and not embedded_redis.is_up(settings.EMBEDDED_REDIS_SOCKET):
                children.append(embedded_redis.start(settings.EMBEDDED_REDIS_SOCKET))
            python = sys.executable
            children.append(
                subprocess.Popen(
                    [
                        python,
                        "-m",
                        "daphne",
                        "-b",
                        host,
                        "-p",
                        str(port),
                        "meshhook.asgi:application",
                    ]
                )
            )
            children.append(subprocess.Popen([python, "manage.py", "testrun_worker"]))
            shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
            self.stdout.write(
                self.style.SUCCESS(f"\n  MeshHook is running at http://{shown_host}:{port}/\n")
                + "  Log in as demo / demo. Press Ctrl-C to stop.\n"
            )
            while not stopping:
                if any(child.poll() is not None for child in children):
                    self.stderr.write("A MeshHook process exited; stopping the others.")
                    break
                time.sleep(0.2)
        finally:
            for child in reversed(children):
                if child.poll() is None:
                    child.terminate()
            deadline = time.monotonic() + 10
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
            self.stdout.write("MeshHook stopped.")
