"""1. The engine on its own: no database, no queue, no broadcast."""

from __future__ import annotations

import time

from bench.definitions import PAYLOAD, transform_chain
from bench.stats import Table, check, repeat_ms
from meshhook.engine import (
    ExecutionContext,
    RunInput,
    RunState,
    Workflow,
    execute_step,
    parse_definition,
    plan_next,
    run_workflow,
)

TRANSFORMS = 40
RUNS = 200


def bench_engine(table: Table) -> None:
    table.section(f"1. Engine in-process (trigger + {TRANSFORMS} transforms, no database)")
    raw = transform_chain(TRANSFORMS, "engine-chain")
    parse_samples = repeat_ms(lambda: parse_definition(raw), 50)
    table.timing("parse_definition (validate + compile)", parse_samples, note="once per run job")

    workflow = parse_definition(raw)
    run = RunInput(payload=PAYLOAD, headers={"content-type": "application/json"})

    def whole_run() -> None:
        result, _, outcomes = run_workflow(workflow, run)
        # A benchmark of a broken run would measure the wrong thing.
        check(result.status == "passed", f"engine run ended {result}")
        check(len(outcomes) == TRANSFORMS + 1, f"{len(outcomes)} steps ran")

    table.timing(f"run_workflow, {TRANSFORMS + 1} steps", repeat_ms(whole_run, RUNS), "ms/run")

    per_step: list[float] = []
    for _ in range(RUNS // 4):
        per_step.extend(step_samples(workflow, run))
    table.timing("plan_next + execute_step, per step", per_step, "µs/step")


def step_samples(workflow: Workflow, run: RunInput) -> list[float]:
    """The µs each plan+execute pair takes, driving the run the way the RQ job does."""
    # The job gives every step a deadline; keep it so the timing includes that check.
    ctx = ExecutionContext(deadline=time.monotonic() + 300)
    state = RunState(run=run)
    samples: list[float] = []
    while True:
        start = time.perf_counter()
        plan = plan_next(workflow, state)
        state = state.with_skipped(plan.skip)
        if plan.finished is not None:
            return samples
        assert plan.next_node is not None
        outcome = execute_step(workflow, plan.next_node, state, ctx)
        samples.append((time.perf_counter() - start) * 1_000_000)
        state = state.with_record(plan.next_node, outcome.record())
