"""The system under test, started the way production starts it, and stopped by PID.

web: `daphne meshhook.asgi:application` on 127.0.0.1 (a free port); workers:
`manage.py testrun_worker`, N of them. Both get the bench's own database and Redis
database number through DATABASE_URL / REDIS_URL, DEBUG off. Every process started here
is stopped in `Stack.close()` (SIGTERM, then SIGKILL after a grace period), which the
caller runs in a `finally`; nothing is ever stopped by name.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx
import psycopg
import redis
from psycopg import sql

from bench.config import Services
from bench.stats import BenchError

ROOT = Path(__file__).resolve().parent.parent
BENCH_SECRET_KEY = "bench-only-secret-key-never-used-to-sign-anything-real-0123456789"
HOST = "127.0.0.1"
GRACE_SECONDS = 10.0


def child_env(services: Services) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=services.database_url,
        REDIS_URL=services.redis_url,
        SECRET_KEY=env.get("BENCH_SECRET_KEY", BENCH_SECRET_KEY),
        DEBUG="0",
        ALLOWED_HOSTS=f"{HOST},localhost",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="meshhook.settings",
        PYTHONUNBUFFERED="1",
        # The per-user start rate and the per-project cap of active runs are off: the
        # throughput and memory figures post thousands of runs as one user, to measure
        # what the system sustains, not what one user is allowed.
        RUN_START_RATE="0",
        MAX_ACTIVE_RUNS_PER_PROJECT="0",
    )
    env.pop("SANDBOX_ENABLED", None)
    return env


def recreate_database(services: Services) -> None:
    with psycopg.connect(services.admin_database_url, autocommit=True) as conn:
        name = sql.Identifier(services.database_name)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def drop_database(services: Services) -> None:
    with psycopg.connect(services.admin_database_url, autocommit=True) as conn:
        name = sql.Identifier(services.database_name)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


def flush_redis(services: Services) -> None:
    client = redis.Redis.from_url(services.redis_url)
    try:
        client.flushdb()
    finally:
        client.close()


def manage(services: Services, *args: str, timeout: float = 900) -> str:
    """`manage.py <args>` against the bench database; its stdout."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=child_env(services),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Child:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        # A session of its own: Ctrl-C in the terminal reaches the bench, which then
        # stops its children in order instead of all of them dying mid-write at once.
        self.process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.pid = self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.process.wait(timeout=GRACE_SECONDS)
        self._log.close()

    def rss_kib(self) -> int:
        """VmRSS of the process, from /proc."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise BenchError(f"no VmRSS for {self.name} (pid {self.pid})")


class Stack:
    def __init__(self, services: Services, logs: Path) -> None:
        self.services = services
        self.logs = logs
        self.env = child_env(services)
        self.port = free_port()
        self.web: Child | None = None
        self.workers: list[Child] = []
        self.extra: list[Child] = []
        self._worker_serial = 0

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start_web(self) -> None:
        """daphne, started; `wait_web()` returns once it answers."""
        daphne = str(Path(sys.executable).with_name("daphne"))
        argv = [daphne, "-b", HOST, "-p", str(self.port), "meshhook.asgi:application"]
        self.web = Child("web", argv, self.env, self.logs)

    def wait_web(self) -> None:
        assert self.web is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not self.web.alive():
                raise BenchError(f"daphne exited:\n{self.web.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/login/", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise BenchError(f"daphne did not answer within 60 s:\n{self.web.log_tail()}")

    def start_workers(self, count: int) -> None:
        """`count` more `manage.py testrun_worker` processes, back once RQ lists them."""
        started = []
        for _ in range(count):
            self._worker_serial += 1
            argv = [sys.executable, "manage.py", "testrun_worker"]
            started.append(Child(f"worker-{self._worker_serial}", argv, self.env, self.logs))
        self.workers.extend(started)
        self._wait_registered(started)

    def start_rq_worker(self, queue: str) -> Child:
        """A plain RQ SimpleWorker on `queue` (for the RQ-only peer figure)."""
        rq = str(Path(sys.executable).with_name("rq"))
        argv = [rq, "worker", "-u", self.services.redis_url, "-w", "rq.worker.SimpleWorker",
                "--logging_level", "WARNING", "-P", str(ROOT), queue]  # fmt: skip
        child = Child(f"rq-{queue}", argv, self.env, self.logs)
        self.extra.append(child)
        self._wait_registered([child])
        return child

    def _wait_registered(self, children: list[Child]) -> None:
        # Ready once registered with RQ: from then on a worker takes jobs.
        client = redis.Redis.from_url(self.services.redis_url)
        try:
            deadline = time.monotonic() + 60
            while True:
                keys = client.smembers("rq:workers")
                pids = {int(pid) for key in keys if (pid := client.hget(key, "pid"))}
                if all(child.pid in pids for child in children):
                    return
                dead = [child for child in children if not child.alive()]
                if dead:
                    raise BenchError(f"{dead[0].name} exited:\n{dead[0].log_tail()}")
                if time.monotonic() > deadline:
                    raise BenchError("workers did not register with RQ within 60 s")
                time.sleep(0.1)
        finally:
            client.close()

    def stop_child(self, child: Child) -> None:
        child.stop()
        if child in self.extra:
            self.extra.remove(child)

    def stop_workers(self) -> None:
        workers, self.workers = self.workers, []
        for worker in workers:
            worker.stop()

    def check_alive(self) -> None:
        for child in [*([self.web] if self.web else []), *self.workers]:
            if not child.alive():
                raise BenchError(f"{child.name} (pid {child.pid}) died:\n{child.log_tail()}")

    def close(self) -> None:
        for child in self.extra:
            child.stop()
        self.extra = []
        self.stop_workers()
        if self.web is not None:
            self.web.stop()
            self.web = None
