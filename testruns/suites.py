"""Suites: every test case in a scope run once, as ordinary runs on the queue, so the
workers share them out; a suite ends when its last run ends (DESIGN §8).

Counting: a run that `passed` passed; one that `failed` failed (the workflow failed or an
assertion did not hold); one that ended in `error` or was `cancelled`, and a test case
that could not start at all, count as `error`. The suite is `passed` when every case
passed, `failed` when any failed, otherwise `error`. `started_at` is when its first run
started, and `duration_ms` runs from then (from its creation if no run started) to the end
of its last run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction
from django.db.models import Min, QuerySet
from django.utils import timezone

from meshhook.engine import DefinitionError, Problem
from meshhook.models import Project, Workflow
from meshhook.problems import ProblemError
from testruns.models import ACTIVE_STATUSES, RunStatus, TestRun
from testruns.parameters import ParameterError
from testruns.testcase_models import SuiteStatus, TestCase, TestSuiteRun
from testruns.testcases import start_case_run


class SuiteError(ProblemError):
    pass


def cases_in_scope(project: Project, workflow: Workflow | None = None) -> QuerySet[TestCase]:
    cases = TestCase.objects.filter(workflow__project=project).select_related(
        "workflow__project", "replay_from_run", "baseline_run"
    )
    if workflow is not None:
        cases = cases.filter(workflow=workflow)
    return cases.order_by("workflow__slug", "name")


def start_suite(
    project: Project,
    *,
    user: Any,
    source: str,
    workflow: Workflow | None = None,
    environment: str = "",
    cases: Iterable[TestCase] | None = None,
) -> TestSuiteRun:
    """Create the suite and queue a run of every case (`cases`, default: all in scope).
    Runs are enqueued when the surrounding transaction commits, so none can end before
    the suite knows them all."""
    chosen = list(cases if cases is not None else cases_in_scope(project, workflow))
    if not chosen:
        where = f"workflow '{workflow.slug}'" if workflow else f"project '{project.slug}'"
        message = f"No test cases in {where}; create one with POST /api/test-cases."
        raise SuiteError(message, [Problem("workflow" if workflow else "project", message)])
    if environment:
        env = project.environments.filter(name=environment).first()
        if env is None or not env.is_test:
            message = (
                f"No environment '{environment}' in project {project.slug}."
                if env is None
                else f"'{environment}' is a production environment; suites use test ones."
            )
            raise SuiteError(message, [Problem("environment", message)])
    with transaction.atomic():
        suite = TestSuiteRun.objects.create(
            project=project,
            workflow=workflow,
            environment=environment,
            triggered_by=user if user is not None and user.is_authenticated else None,
            source=source,
            total=len(chosen),
        )
        errors = []
        for case in chosen:
            try:
                start_case_run(
                    case, user=user, source=source, suite=suite, environment=environment or None
                )
            except (ParameterError, DefinitionError) as exc:
                errors.append(
                    {
                        "test_case": str(case.id),
                        "name": case.name,
                        "workflow": case.workflow.slug,
                        "error": f"Could not start: {'; '.join(_problems(exc))}",
                    }
                )
        if errors:
            suite.start_errors = errors
            suite.save(update_fields=["start_errors"])
        if len(errors) == len(chosen):
            _finish(suite, {})
    return suite


def _problems(exc: ParameterError | DefinitionError) -> list[str]:
    return [f"{problem.path}: {problem.message}" for problem in exc.problems]


def run_ended(run: TestRun) -> None:
    """The run-ended hook's part for suites: `run` has its final status in memory (its
    row may still say what the workflow decided before assertions changed it)."""
    if run.suite_id is None:
        return
    suite = TestSuiteRun.objects.select_for_update().filter(pk=run.suite_id).first()
    if suite is None or suite.is_finished:
        return
    # The lock above orders the last two runs of a suite ending at once: the second sees
    # the first's final status.
    others = suite.runs.exclude(pk=run.pk)
    if others.filter(status__in=ACTIVE_STATUSES).exists():
        if suite.status == SuiteStatus.QUEUED:
            suite.status = SuiteStatus.RUNNING
            suite.started_at = _first_start(suite, run)
            suite.save(update_fields=["status", "started_at"])
        return
    statuses = dict(others.values_list("id", "status"))
    statuses[run.pk] = run.status
    _finish(suite, statuses, also=run)


def _first_start(suite: TestSuiteRun, run: TestRun) -> Any:
    first = suite.runs.exclude(pk=run.pk).aggregate(first=Min("started_at"))["first"]
    candidates = [value for value in (first, run.started_at) if value is not None]
    return min(candidates) if candidates else None


def _finish(suite: TestSuiteRun, statuses: dict[Any, str], also: TestRun | None = None) -> None:
    counts = count_statuses(statuses.values())
    suite.passed_count = counts["passed"]
    suite.failed_count = counts["failed"]
    suite.error_count = counts["error"] + len(suite.start_errors)
    if suite.passed_count == suite.total:
        suite.status = SuiteStatus.PASSED
    elif suite.failed_count:
        suite.status = SuiteStatus.FAILED
    else:
        suite.status = SuiteStatus.ERROR
    now = timezone.now()
    suite.completed_at = now
    suite.started_at = suite.started_at or (_first_start(suite, also) if also else None)
    began = suite.started_at or suite.created_at
    suite.duration_ms = max(0, int((now - began).total_seconds() * 1000))
    suite.save()


def count_statuses(statuses: Iterable[str]) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "error": 0, "cancelled": 0, "active": 0}
    for status in statuses:
        if status == RunStatus.PASSED:
            counts["passed"] += 1
        elif status == RunStatus.FAILED:
            counts["failed"] += 1
        elif status in ACTIVE_STATUSES:
            counts["active"] += 1
        else:
            counts["error"] += 1
            if status == RunStatus.CANCELLED:
                counts["cancelled"] += 1
    return counts


def shown_status(suite: TestSuiteRun, runs: Sequence[TestRun]) -> str:
    """The stored status once finished; before that `running` as soon as a run started."""
    if suite.is_finished or suite.status == SuiteStatus.RUNNING:
        return suite.status
    started = any(run.status != RunStatus.QUEUED for run in runs)
    return SuiteStatus.RUNNING if started else SuiteStatus.QUEUED
