"""`python -m bench` (`make bench`): what a user of MeshHook feels, measured from outside.

It creates its own PostgreSQL database and uses its own Redis database number, migrates,
starts web (daphne) and worker (`manage.py testrun_worker`) processes as production
does, drives them through the JSON API and the run socket, and prints one table, also
written as JSON under var/bench/. `--quick` (`make bench-quick`) runs the same harness
with tiny sizes: it checks that the harness works, not the figures. The exit status is
non-zero only when the harness itself breaks (an event lost or doubled is such a break).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from types import FrameType
from typing import Any

from bench import machine
from bench.config import FULL, QUICK, services
from bench.context import Context
from bench.engine_bench import bench_engine
from bench.report import Table, write_json
from bench.stack import ROOT, Stack, drop_database, flush_redis, manage, recreate_database
from bench.stats import BenchError

SECTIONS = ("1", "2", "3", "4", "5", "6", "7", "extra")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", "2")),
                        help="worker processes (default $WORKERS or 2)")  # fmt: skip
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help="comma-separated sections to run (default: all)")  # fmt: skip
    parser.add_argument("--keep-db", action="store_true", help="leave the bench database")
    args = parser.parse_args(argv)
    args.only = {part.strip() for part in args.only.split(",") if part.strip()}
    if unknown := args.only - set(SECTIONS):
        parser.error(f"unknown sections {sorted(unknown)}; pick from {', '.join(SECTIONS)}")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


def interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM ends the bench like Ctrl-C: children stopped first


def run_section(table: Table, name: str, fn: Callable[[], Any]) -> None:
    started = time.perf_counter()
    print(f"  section {name} …", end="", flush=True, file=sys.stderr)
    try:
        fn()
    except BenchError as error:
        table.error(name, str(error))
    except Exception as error:  # a bug in a section must not hide the other figures
        traceback.print_exc()
        table.error(name, f"{type(error).__name__}: {error}")
    print(f" {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    sizes = QUICK if args.quick else FULL
    where = services(args.quick)
    # Explicit for SIGINT too: a shell starting the bench in the background ignores it.
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    began = time.perf_counter()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    logs = ROOT / "var" / "bench" / "logs" / stamp
    logs.mkdir(parents=True, exist_ok=True)
    table = Table()
    stack: Stack | None = None
    interrupted = False
    info: dict[str, Any] = {}
    try:
        recreate_database(where)
        flush_redis(where)
        info = machine.describe(where)
        print("MeshHook bench" + (" (quick: checks the harness, not the figures)"
                                  if args.quick else ""), flush=True)  # fmt: skip
        for line in machine.lines(info):
            print(f"  {line}", flush=True)
        if "1" in args.only:
            run_section(table, "1", lambda: bench_engine(table, sizes))
        manage(where, "migrate", "--noinput")
        from bench.fixtures import configure_django, create_workflows, make_user

        configure_django(where)
        stack = Stack(where, logs)
        stack.start_web()
        stack.start_workers(args.workers)
        stack.wait_web()
        credentials = make_user(where, stack)
        create_workflows(stack, credentials, sizes)
        ctx = Context(sizes, where, stack, table, credentials, args.workers, args.quick)
        run_stack_sections(ctx, args.only)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: stopping what the bench started", file=sys.stderr)
    except BenchError as error:
        table.error("setup", str(error))
    finally:
        if stack is not None:
            stack.close()
        close_django()
        if not args.keep_db:
            drop_database(where)
        flush_redis(where)
    seconds = time.perf_counter() - began
    print()
    print(table.render())
    print(f"\nWhole bench {seconds:.0f} s; process logs in {logs.relative_to(ROOT)}/.")
    document = {
        "taken_at": stamp, "quick": args.quick, "workers": args.workers,
        "sections": sorted(args.only),
        "seconds": round(seconds, 1), "machine": info, "sizes": vars(sizes),
        "rows": table.as_json(), "notes": table.notes, "errors": table.errors,
    }  # fmt: skip
    incomplete = interrupted or args.only != set(SECTIONS)
    path = write_json(ROOT / "var" / "bench", document, quick=args.quick, partial=incomplete)
    print(f"JSON: {path.relative_to(ROOT)}")
    if interrupted:
        return 130
    return 1 if table.errors else 0


def run_stack_sections(ctx: Context, only: set[str]) -> None:
    from bench.e2e_bench import bench_e2e
    from bench.eventlog_bench import bench_eventlog, bench_offset
    from bench.history_bench import bench_history
    from bench.live_bench import bench_click, bench_flood
    from bench.load_bench import bench_memory, bench_throughput
    from bench.settle import quiesce

    table = ctx.table
    # History last: a million rows would otherwise sit under every other figure, and the
    # OFFSET comparison reads the seeded history.
    plan: list[tuple[str, Callable[[Context], None]]] = [
        ("2", bench_e2e), ("3", bench_click), ("4", bench_flood), ("5", bench_throughput),
        ("7", bench_memory), ("extra", bench_eventlog), ("6", bench_history),
        ("extra", bench_offset),
    ]  # fmt: skip
    for name, fn in plan:
        if name in only:
            run_section(table, name, partial(fn, ctx))
            ctx.stack.check_alive()
            # Each section starts on an idle system, whatever the last one left behind.
            left = quiesce(ctx.services.redis_url)
            if left:
                table.note(f"Section {name} left {left:,} runs unstarted; cancelled after it.")


def close_django() -> None:
    if "django.db" in sys.modules:
        from django.db import connections

        connections.close_all()


if __name__ == "__main__":
    sys.exit(main())
