"""What one bench run measures and where: sizes (full or quick), services, the targets."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class Sizes:
    engine_runs: int = 200
    e2e_runs: int = 10  # 40-transform runs, one at a time
    chain_runs: int = 10  # RQ chains of 40 jobs
    chain_steps: int = 40
    transforms: int = 40
    transforms_long: int = 160  # the marginal cost of a step: long chain against `transforms`
    click_runs: int = 2  # step-mode runs of the 40-transform workflow: 41 clicks each
    events_loop_items: int = 1_000  # 20,000-event run: items × body transforms × 2 events
    events_body: int = 10
    throughput_runs: int = 1_000
    throughput_clients: int = 16
    history_runs: int = 1_000_000
    history_workflows: int = 50
    history_depth: int = 500_000
    history_repeats: int = 20
    rss_first: int = 1_000
    rss_then: int = 10_000
    eventlog_events: int = 2_000
    # Time budgets (s): a slow system gets a partial figure, said so, never a hung bench.
    flood_budget_s: float = 600
    load_budget_s: float = 600
    rss_budget_s: float = 1_200


# Checks that every part of the harness works, in well under a minute on a quiet machine
# with today's worker; the figures it prints mean nothing.
QUICK = Sizes(
    engine_runs=20,
    e2e_runs=3,
    chain_runs=3,
    chain_steps=10,
    transforms=10,
    transforms_long=20,
    click_runs=1,
    events_loop_items=100,
    events_body=1,
    throughput_runs=12,
    throughput_clients=4,
    history_runs=10_000,
    history_workflows=10,
    history_depth=5_000,
    history_repeats=5,
    rss_first=10,
    rss_then=30,
    eventlog_events=50,
    flood_budget_s=60,
    load_budget_s=60,
    rss_budget_s=90,
)
FULL = Sizes()


@dataclass(frozen=True)
class Target:
    """`value <= limit` (lower is better) or `value >= limit`; `text` is what is printed."""

    text: str
    limit: float
    higher_is_better: bool = False

    def met(self, value: float) -> bool:
        return value >= self.limit if self.higher_is_better else value <= self.limit


TARGETS = {
    "e2e_step": Target("p50 ≤ 1 ms", 1.0),
    "e2e_vs_rq": Target("≥ 4× ahead", 4.0, higher_is_better=True),
    "click": Target("p95 ≤ 25 ms", 25.0),
    "lines_per_s": Target("≥ 20,000/s", 20_000, higher_is_better=True),
    "line_p99": Target("p99 ≤ 50 ms", 50.0),
    "runs_per_s": Target("≥ 250/s", 250, higher_is_better=True),
    "page": Target("p50 ≤ 50 ms", 50.0),
    "admin": Target("p50 ≤ 200 ms", 200.0),
    "rss_growth": Target("≤ 10%", 10.0),
}


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def with_redis_db(url: str, number: int) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        raise SystemExit("The bench needs a TCP Redis (set REDIS_URL=redis://host:port/N).")
    return urlunsplit((parts.scheme, parts.netloc, f"/{number}", "", ""))


@dataclass(frozen=True)
class Services:
    database_url: str  # the bench's own database, created and dropped by the bench
    redis_url: str  # the bench's own Redis database number, flushed before and after

    @property
    def database_name(self) -> str:
        return urlsplit(self.database_url).path.lstrip("/")

    @property
    def admin_database_url(self) -> str:
        """The maintenance database, for CREATE/DROP DATABASE."""
        return with_database(self.database_url, "postgres")


def services(quick: bool) -> Services:
    """Derived from DATABASE_URL / REDIS_URL (server, user) with names of the bench's own,
    so neither a developer's data nor a concurrent pytest run is ever touched.
    BENCH_DATABASE_URL / BENCH_REDIS_URL override the derivation."""
    name = "meshhook_bench_quick" if quick else "meshhook_bench"
    database = os.environ.get("BENCH_DATABASE_URL") or with_database(
        os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL, name
    )
    if not database.startswith(("postgres://", "postgresql://")):
        raise SystemExit("The bench runs on PostgreSQL: set DATABASE_URL=postgres://…")
    redis = os.environ.get("BENCH_REDIS_URL") or with_redis_db(
        os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL, 8 if quick else 7
    )
    if Services(database, redis).database_name in ("test", "test_test", "postgres"):
        raise SystemExit("Refusing to benchmark in a shared database; pick another name.")
    return Services(database, redis)
