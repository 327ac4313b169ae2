"""Test cases and suites: every test starts and ends with the real `testruns` queue empty,
and with no parsed workflow versions cached."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rq import Queue

from meshhook.services import workflows


@pytest.fixture(autouse=True)
def testruns_queue(run_queue: Queue) -> Queue:
    return run_queue


@pytest.fixture(autouse=True)
def fresh_parsed_versions() -> Iterator[None]:
    """The per-process cache of parsed versions is keyed by primary key, which the test
    database hands out again after each test's rollback or flush."""
    workflows._parsed_versions.clear()
    yield
    workflows._parsed_versions.clear()
