"""Quotas on starting test runs: a per-user rate and a per-project cap on active runs.

`check_start` is called before a run is created. The rate is a fixed window counted in
Redis (INCR + EXPIRE on one key per user per window, `RUN_START_RATE` starts per
`RUN_START_RATE_WINDOW_SECONDS`); the cap counts the project's queued, running and paused
runs (`MAX_ACTIVE_RUNS_PER_PROJECT`). Either answers 429 (`QuotaExceeded`); the rate also
says when to try again (`retry_after`, sent as Retry-After). A setting of 0 turns a quota
off. Runs started without a user (the `test_workflows` command) are not rate limited.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import django_rq
from django.conf import settings
from redis.exceptions import RedisError

from meshhook.engine import Problem
from meshhook.models import Project
from meshhook.problems import ProblemError
from testruns.models import ACTIVE_STATUSES, TestRun

logger = logging.getLogger(__name__)

KEY_PREFIX = "meshhook:quota:run-starts"


class QuotaExceeded(ProblemError):
    """Too many runs started or active; try again later."""

    status = 429

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message, [Problem("$", message)])
        self.retry_after = retry_after


def check_start(user: Any, project: Project) -> None:
    """Raise QuotaExceeded if `user` may not start another run in `project` now."""
    _check_active_runs(project)
    if user is not None and getattr(user, "is_authenticated", False):
        _check_rate(user)


def _check_active_runs(project: Project) -> None:
    cap = int(settings.MAX_ACTIVE_RUNS_PER_PROJECT)
    if cap <= 0:
        return
    active = TestRun.objects.filter(project=project, status__in=ACTIVE_STATUSES).count()
    if active >= cap:
        raise QuotaExceeded(
            f"Project '{project.slug}' already has {active} active test runs (the limit is "
            f"{cap}); wait for some to finish or cancel them, then start again."
        )


def user_key(user: Any) -> str:
    # The account's creation instant as well as its id, so a recycled id never inherits
    # another account's counter.
    joined = getattr(user, "date_joined", None)
    stamp = int(joined.timestamp() * 1_000_000) if joined is not None else 0
    return f"{user.pk}-{stamp}"


def _check_rate(user: Any) -> None:
    rate = int(settings.RUN_START_RATE)
    if rate <= 0:
        return
    window = int(settings.RUN_START_RATE_WINDOW_SECONDS)
    now = time.time()
    slot = int(now // window)
    key = f"{KEY_PREFIX}:{user_key(user)}:{slot}"
    try:
        connection = django_rq.get_connection("testruns")
        pipe = connection.pipeline()
        pipe.incr(key)
        pipe.expire(key, window + 1)
        count = int(pipe.execute()[0])
    except RedisError:
        # Without Redis the run cannot be queued either; starting it reports that (503).
        logger.warning("Run-start rate not checked: Redis is unreachable.", exc_info=True)
        return
    if count > rate:
        retry_after = max(1, int((slot + 1) * window - now + 0.999))
        raise QuotaExceeded(
            f"Too many test runs started: the limit is {rate} per {window} seconds. "
            f"Try again in {retry_after} s.",
            retry_after=retry_after,
        )
