"""6. History at scale: `manage.py seed_test_runs`, then the pages and API a user opens.

Each figure is one HTTP request to the running daphne, timed from outside. The deep API
page follows a keyset cursor built once, outside the timing, from the row at that depth
of the filtered list (the app's own `encode_cursor`), which is where a user paging that
far would be; its first row is checked against the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from django.contrib.auth import get_user_model

from bench.config import TARGETS, Target
from bench.context import USERNAME, Context
from bench.stack import manage
from bench.stats import BenchError, check, repeat_ms
from testruns.models import TestRun
from testruns.queries import encode_cursor, filter_runs, runs_for

SECTION = "6. History"
DEEP_FILTERS = {"status": "passed", "environment": "local"}
API_LIMIT = 50  # the API's default page


def seed(ctx: Context) -> float:
    sizes = ctx.sizes
    started = time.perf_counter()
    args = ["--runs", str(sizes.history_runs), "--workflows", str(sizes.history_workflows)]
    manage(ctx.services, "seed_test_runs", *args, "--user", USERNAME, timeout=3600)
    return time.perf_counter() - started


def deep_cursor(depth: int) -> tuple[str, str, int]:
    """A cursor whose next page starts at row `depth` of the filtered list, that row's id,
    and the depth actually used (less if the history is too short)."""
    user = get_user_model()._default_manager.get(username=USERNAME)
    runs = filter_runs(runs_for(user), DEEP_FILTERS).order_by("-created_at", "-id")
    total = runs.count()
    depth = min(depth, total - API_LIMIT)
    if depth < 1:
        raise BenchError(f"only {total} runs match {DEEP_FILTERS}")
    before, first = list(runs[depth - 1 : depth + 1])
    return encode_cursor(before), str(first.pk), depth


def getter(client: httpx.Client, path: str, check_body: Callable[[httpx.Response], None]
           ) -> Callable[[], None]:  # fmt: skip
    def get() -> None:
        answer = client.get(path)
        if answer.status_code != 200:
            raise BenchError(f"GET {path}: {answer.status_code} {answer.text[:200]}")
        check_body(answer)

    return get


def api_page(first_id: str | None = None) -> Callable[[httpx.Response], None]:
    def check_body(answer: httpx.Response) -> None:
        results = answer.json()["results"]
        check(len(results) == API_LIMIT, f"API page of {len(results)} runs")
        if first_id is not None:
            check(results[0]["id"] == first_id, "the deep page starts at the wrong run")

    return check_body


def html_with(marker: str) -> Callable[[httpx.Response], None]:
    def check_body(answer: httpx.Response) -> None:
        check(marker in answer.text, f"page without {marker!r}")

    return check_body


def bench_history(ctx: Context) -> None:
    sizes = ctx.sizes
    seconds = seed(ctx)
    total = TestRun.objects.count()
    table = ctx.table
    table.value(
        SECTION, f"seed_test_runs --runs {sizes.history_runs:,}", seconds, "s",
        note=f"{sizes.history_runs / seconds:,.0f} rows/s (COPY, ANALYZE); {total:,} runs now",
    )  # fmt: skip
    cursor, first_id, depth = deep_cursor(sizes.history_depth)
    base = ctx.stack.base_url
    cookie = {"Cookie": ctx.credentials.cookie}
    bearer = {"Authorization": f"Bearer {ctx.credentials.token}"}
    deep_query = "&".join(f"{k}={v}" for k, v in DEEP_FILTERS.items())
    with (
        httpx.Client(base_url=base, headers=cookie, timeout=120) as pages,
        httpx.Client(base_url=base, headers=bearer, timeout=120) as api,
    ):
        rows: list[tuple[str, httpx.Client, str, Callable[[httpx.Response], None], Target]] = [
            ("console /test-runs/", pages, "/test-runs/", html_with("/test-runs/"),
             TARGETS["page"]),
            ("API /api/test-runs, first page", api, "/api/test-runs", api_page(),
             TARGETS["page"]),
            (f"API page {depth:,} deep, {deep_query}", api,
             f"/api/test-runs?{deep_query}&cursor={cursor}", api_page(first_id),
             TARGETS["page"]),
            ("admin /admin/testruns/testrun/", pages, "/admin/testruns/testrun/",
             html_with("result_list"), TARGETS["admin"]),
        ]  # fmt: skip
        for label, client, path, check_body, target in rows:
            samples = repeat_ms(getter(client, path, check_body), sizes.history_repeats)
            table.timing(SECTION, label, samples, "ms", target=target)
    table.note(
        f"History: {total:,} runs over {sizes.history_workflows} workflows seeded into the "
        "bench user's project; each page timed as one GET from outside, 2 untimed first."
    )
