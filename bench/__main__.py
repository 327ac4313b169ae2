"""`python -m bench` (or `make bench`): the project's performance figures in one table.

Performance targets live here, never in unit tests: timings on a shared CI machine are
too noisy to fail a build on, but a table printed side by side with the last one shows
a regression at a glance.
"""

from __future__ import annotations

import sys
import time

from bench.harness import bench_environment
from bench.stats import Table


def main() -> int:
    began = time.perf_counter()
    table = Table()
    with bench_environment() as environment:
        # Imported only now: these modules need a configured Django.
        from bench.data import make_fixture
        from bench.engine_bench import bench_engine
        from bench.eventlog_bench import bench_eventlog
        from bench.history_bench import bench_history, bench_live_view
        from bench.worker_bench import bench_workers

        print("MeshHook benchmarks", flush=True)
        for line in environment.lines():
            print(f"  {line}")
        print(flush=True)

        bench_engine(table)
        fixture = make_fixture()
        bench_eventlog(table, fixture)
        live_run = bench_workers(table, fixture)
        bench_history(table, make_fixture(slug="bench-history"))
        bench_live_view(table, live_run)
    print(table.render())
    print(
        f"\nMedians (p95 where ≥ 20 samples) from repeated runs in this process; "
        f"whole bench {time.perf_counter() - began:.0f} s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
