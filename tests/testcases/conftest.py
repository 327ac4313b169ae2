"""Test cases and suites: every test starts and ends with the real `testruns` queue empty."""

from __future__ import annotations

import pytest
from rq import Queue


@pytest.fixture(autouse=True)
def testruns_queue(run_queue: Queue) -> Queue:
    return run_queue
