"""2. Event log writes: one `append_events` call per event vs batches of 50.

Each call commits and then publishes twice on the channel layer (the run's group and
its project's history group); that broadcast is part of the real price of a call and is
deliberately left in.
"""

from __future__ import annotations

import time

from bench.data import Fixture, bare_run
from bench.stats import Table, check, repeat_ms
from testruns.eventlog import NewEvent, append_events, publish
from testruns.models import RunEvent

EVENTS = 2_000
BATCH = 50
BATCH_ROUNDS = 5  # batches are cheap, so take more rounds of them for a steadier median


def log_lines(count: int, start: int = 0) -> list[NewEvent]:
    return [
        NewEvent(
            "log",
            f"Fetched page {n} of contacts: 50 records, 12 updated, 38 unchanged.",
            node_id=f"t{n % 9}",
            data={"page": n, "records": 50},
        )
        for n in range(start, start + count)
    ]


def bench_eventlog(table: Table, fixture: Fixture) -> None:
    table.section(f"2. Event log writes ({EVENTS:,} log events, commit + channel-layer publish)")

    run = bare_run(fixture)
    append_events(run.id, log_lines(5))  # warm the connection and the channel layer
    single: list[float] = []
    started = time.perf_counter()
    for event in log_lines(EVENTS):
        t0 = time.perf_counter()
        append_events(run.id, [event])
        single.append((time.perf_counter() - t0) * 1000)
    single_rate = EVENTS / (time.perf_counter() - started)

    batched: list[float] = []
    rates: list[float] = []
    for _ in range(BATCH_ROUNDS):
        run = bare_run(fixture)
        started = time.perf_counter()
        for offset in range(0, EVENTS, BATCH):
            t0 = time.perf_counter()
            append_events(run.id, log_lines(BATCH, offset))
            batched.append((time.perf_counter() - t0) * 1000)
        rates.append(EVENTS / (time.perf_counter() - started))
        # Dense, gap-free seqs are the contract; a fast path that broke them is no win.
        check(RunEvent.objects.filter(run=run).count() == EVENTS, "events went missing")
    rates.sort()
    batch_rate = rates[len(rates) // 2]

    table.timing("append_events, 1 event per call", single, "ms/call")
    table.value("  throughput, 1 per call", single_rate, "events/s", f"{EVENTS:,} calls")
    table.timing(f"append_events, {BATCH} events per call", batched, "ms/call")
    table.value(
        f"  throughput, {BATCH} per call",
        batch_rate,
        "events/s",
        f"median of {BATCH_ROUNDS} rounds of {EVENTS // BATCH} calls",
    )
    table.ratio(f"batches of {BATCH} vs 1 per call", batch_rate, single_rate, "events/s")
    table.timing(
        "  of each call: publish() alone",
        repeat_ms(lambda: publish(run.id), 50),
        "ms/call",
        "1 SELECT + 2 group_send",
    )
