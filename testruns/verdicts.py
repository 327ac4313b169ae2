"""The verdict of a test-case run, decided once, inside the transaction that ends it.

`run_ended` is registered with `lifecycle.on_run_ended` (TestRunsConfig.ready). For a run
of a test case it evaluates the assertions frozen in its `CaseRunSpec` and compares it
with the baseline run; a run whose workflow passed but whose checks did not hold becomes
`failed`, its error naming what failed. Then, for a run of a suite, the suite may end.
A run that was cancelled or ended in error is not judged: its assertions are marked not
evaluated and its status stays what it is.
"""

from __future__ import annotations

from typing import Any

from testruns import assertions, baseline, lifecycle, suites
from testruns.compare import VOLATILE_KEYS
from testruns.lifecycle import FINISHED_WORDS
from testruns.models import RunStatus, StepRun, TestRun
from testruns.testcase_models import CaseRunSpec

MAX_ERROR_CHARS = 2_000
LISTED = 5
_registered = False


def register() -> None:
    """Install `run_ended` as a run-ended hook, once however often the app gets ready."""
    global _registered
    if not _registered:
        lifecycle.on_run_ended(run_ended)
        _registered = True


def run_ended(run: TestRun) -> None:
    if run.test_case_id is not None:
        judge(run)
    if run.suite_id is not None:
        suites.run_ended(run)


def judge(run: TestRun) -> None:
    spec = CaseRunSpec.objects.filter(run_id=run.pk).select_related("baseline_run").first()
    if spec is None:
        return
    status = RunStatus(run.status)
    if status not in (RunStatus.PASSED, RunStatus.FAILED):
        results = assertions.not_evaluated(spec.assertions, f"the run {FINISHED_WORDS[status]}")
        TestRun.objects.filter(pk=run.pk).update(assertion_results=results)
        run.assertion_results = results
        return
    steps = [step_facts(step) for step in run.steps.in_run_order()]
    facts = assertions.RunFacts(status=run.status, result=run.result, steps=steps)
    results = assertions.evaluate(spec.assertions, facts)
    differences: list[dict[str, Any]] = []
    if spec.baseline_run is not None:
        differences = baseline.compare(
            steps,
            [step_facts(step) for step in spec.baseline_run.steps.in_run_order()],
            baseline_label=spec.baseline_run.short_id,
            volatile_paths=spec.volatile_paths,
            volatile_keys=frozenset(VOLATILE_KEYS),
        )
    TestRun.objects.filter(pk=run.pk).update(assertion_results=results + differences)
    run.assertion_results = results + differences
    reason = failure_reason(results, differences)
    if not reason:
        return
    if run.status == RunStatus.PASSED:
        run.status, run.error = RunStatus.FAILED, reason
    else:
        run.error = f"{run.error}; {reason}" if run.error else reason
    run.error = run.error[:MAX_ERROR_CHARS]


def step_facts(step: StepRun) -> assertions.StepFacts:
    return assertions.StepFacts(
        node_id=step.node_id,
        status=step.status,
        output=step.output,
        duration_ms=step.duration_ms,
        iteration=step.iteration,
    )


def failure_reason(results: list[dict[str, Any]], differences: list[dict[str, Any]]) -> str:
    """'2 of 5 assertions failed: …; step 'x' output.id differs from baseline run …', or ''."""
    parts = []
    failed = [result for result in results if result["passed"] is False]
    if failed:
        listed = "; ".join(result["message"] for result in failed[:LISTED])
        more = f"; and {len(failed) - LISTED} more" if len(failed) > LISTED else ""
        parts.append(f"{len(failed)} of {len(results)} assertions failed: {listed}{more}")
    differing = [item for item in differences if item["passed"] is False]
    if differing:
        # Each message names the baseline run already.
        parts += [item["message"] for item in differing[:LISTED]]
        if len(differing) > LISTED and differing[-1]["node"] is not None:
            parts.append(f"and {len(differing) - LISTED} more differences")
    return "; ".join(parts)
