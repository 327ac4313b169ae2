"""Loaded with `-p tests.pytest_env` before pytest-django imports the settings.

With no REDIS_URL the suite gets its own embedded Redis on a private socket, so
`make test` needs nothing installed and never touches a `make run` instance.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

_embedded: subprocess.Popen[bytes] | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    global _embedded
    os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789")
    # No persistent connections: helper threads (database_sync_to_async) would otherwise
    # keep sessions open, and the test database could not be dropped at the end.
    os.environ.setdefault("DB_CONN_MAX_AGE", "0")
    # Tests sweep when they mean to; a background sweeper would race them.
    os.environ.setdefault("RUN_SWEEP_IN_WEB", "0")
    # Fixtures start dozens of runs for one user within a second; tests/test_quotas.py turns
    # the run-start rate back on where it is what is tested.
    os.environ.setdefault("RUN_START_RATE", "0")
    os.environ.setdefault("SANDBOX_ENABLED", "1")
    if not os.environ.get("REDIS_URL"):
        from meshhook import embedded_redis

        socket_path = Path(tempfile.mkdtemp(prefix="meshhook-test-redis-")) / "redis.sock"
        _embedded = embedded_redis.start(socket_path)
        os.environ["REDIS_URL"] = f"unix://{socket_path}"


def pytest_unconfigure(config: pytest.Config) -> None:
    if _embedded is not None:
        _embedded.terminate()
        _embedded.wait(timeout=10)
