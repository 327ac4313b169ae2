"""1. The engine on its own: no database, no queue, no broadcast.

The floor under every other figure: what planning and executing a step costs in-process,
driven the way the worker drives it (plan_next, execute_step, repeat).
"""

from __future__ import annotations

import time

from bench.config import Sizes
from bench.definitions import PAYLOAD, transform_chain
from bench.report import Table
from bench.stats import check, repeat_ms
from meshhook.engine import (
    ExecutionContext,
    RunInput,
    RunState,
    Workflow,
    execute_step,
    parse_definition,
    plan_next,
)

SECTION = "1. Engine in-process"


def bench_engine(table: Table, sizes: Sizes) -> list[float]:
    """Returns the per-step samples (µs), the peer of the end-to-end figure."""
    raw = transform_chain(sizes.transforms, "engine-chain")
    workflow = parse_definition(raw)
    run = RunInput(payload=PAYLOAD, headers={"content-type": "application/json"})
    per_step: list[float] = []
    for _ in range(2):  # warm-up: first compiles, caches
        step_samples(workflow, run)
    for _ in range(sizes.engine_runs):
        samples = step_samples(workflow, run)
        check(len(samples) == sizes.transforms + 1, f"{len(samples)} steps ran")
        per_step.extend(samples)
    table.timing(
        SECTION, f"plan_next + execute_step, trigger + {sizes.transforms} transforms",
        per_step, "µs/step", note="no database, queue or broadcast: the floor under figure 2",
    )  # fmt: skip
    parse = repeat_ms(lambda: parse_definition(raw), max(10, sizes.engine_runs // 4))
    table.timing(SECTION, "  parse_definition (once per run job)", parse, "ms")
    return per_step


def step_samples(workflow: Workflow, run: RunInput) -> list[float]:
    """The µs each plan+execute pair takes, driving the run the way the RQ job does."""
    ctx = ExecutionContext(deadline=time.monotonic() + 300)
    state = RunState(run=run)
    samples: list[float] = []
    while True:
        start = time.perf_counter()
        plan = plan_next(workflow, state)
        state = state.with_skipped(plan.skip)
        if plan.finished is not None:
            check(plan.finished.status == "passed", f"engine run ended {plan.finished}")
            return samples
        assert plan.next_node is not None
        outcome = execute_step(workflow, plan.next_node, state, ctx)
        samples.append((time.perf_counter() - start) * 1_000_000)
        state = state.with_record(plan.next_node, outcome.record())
