"""`python manage.py test_workflows [slug ...]`: run the test cases, for CI (DESIGN §8).

Every test case of the chosen workflows (default: all, in every project or in --project)
runs once as an ordinary test run, grouped into one suite per project. By default the runs
go on the queue and the workers run them, spread over as many as there are; the command
waits and fails clearly when no worker picks them up. With --inline this process drives
them one after the other (a Redis is still needed; the embedded one is started if none is
up). It prints a line per finished case and a summary table, writes JUnit XML (--junit)
and a JSON report (--json), and exits 0 only when every test case passed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from meshhook.models import Project, Workflow
from meshhook.problems import ProblemError
from testruns.cli_support import ci_source, drive_inline, redis_available
from testruns.junit import junit_xml
from testruns.models import ACTIVE_STATUSES, RunStatus, TestRun
from testruns.services import RunStateError, cancel_run
from testruns.suites import start_suite
from testruns.testcase_models import TestCase, TestSuiteRun
from testruns.testcase_serializers import suite_json, suite_runs

POLL_SECONDS = 0.2
WORDS = {"passed": "PASSED", "failed": "FAILED", "error": "ERROR", "cancelled": "CANCELLED"}


class Command(BaseCommand):
    help = "Run the workflows' test cases (on the workers, or --inline); exit 0 if all pass."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slugs", nargs="*", metavar="slug", help="Workflows (default: all).")
        parser.add_argument("--project", help="Only this project (slug).")
        parser.add_argument("--environment", help="Run every case on this test environment.")
        parser.add_argument("--junit", type=Path, help="Write JUnit XML here.")
        parser.add_argument("--json", type=Path, help="Write a JSON report here.")
        parser.add_argument(
            "--inline", action="store_true", help="Drive the runs in this process, no worker."
        )
        parser.add_argument(
            "--fail-fast", action="store_true", help="Stop (cancel the rest) at the first failure."
        )
        parser.add_argument(
            "--worker-timeout", type=float, default=30.0,
            help="Give up when no worker has picked up a run for this long (s; default 30).",
        )  # fmt: skip
        parser.add_argument(
            "--timeout", type=float, default=900.0,
            help="Give up on runs still going after this long (s; default 900).",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        cases = self._cases(options["slugs"], options["project"])
        source = ci_source()
        with redis_available(start_embedded=options["inline"]):
            suites = self._start(cases, source, options["environment"] or "")
            total = sum(suite.total for suite in suites)
            mode = "in this process" if options["inline"] else "on the workers"
            self.stdout.write(f"Running {total} test case{'s' * (total != 1)} {mode} ({source}).")
            self.shown: set[Any] = set()
            self.finished = 0
            self.total = total
            for suite in suites:
                for problem in suite.start_errors:
                    self._line("error", f"{problem['workflow']} › {problem['name']}", None)
                    self.stdout.write(f"      {problem['error']}")
            started = time.monotonic()
            if options["inline"]:
                self._run_inline(suites, options)
            else:
                self._wait_for_workers(suites, options)
            suites = [TestSuiteRun.objects.get(pk=suite.pk) for suite in suites]
        elapsed = time.monotonic() - started
        self._summary(suites, elapsed)
        self._reports(suites, options, source, elapsed)
        counts = _totals(suites)
        if counts["passed"] != counts["total"]:
            names = _not_passed(suites)
            listed = "; ".join(names[:5]) + ("; …" if len(names) > 5 else "")
            raise CommandError(
                f"{len(names)} of {counts['total']} test cases did not pass: {listed}.",
                returncode=1,
            )

    # -- choosing and starting ---------------------------------------------------------
    def _cases(self, slugs: list[str], project_slug: str | None) -> list[TestCase]:
        projects = Project.objects.all()
        if project_slug:
            projects = projects.filter(slug=project_slug)
            if not projects.exists():
                raise CommandError(f"No project '{project_slug}'.")
        workflows = Workflow.objects.filter(project__in=projects)
        if slugs:
            workflows = workflows.filter(slug__in=slugs)
            missing = sorted(set(slugs) - set(workflows.values_list("slug", flat=True)))
            if missing:
                where = f" in project '{project_slug}'" if project_slug else ""
                raise CommandError(f"No workflow {', '.join(map(repr, missing))}{where}.")
        cases = list(
            TestCase.objects.filter(workflow__in=workflows)
            .select_related("workflow__project", "replay_from_run", "baseline_run")
            .order_by("workflow__project__slug", "workflow__slug", "name")
        )
        if not cases:
            raise CommandError(
                "No test cases to run; save some with POST /api/test-cases or the console "
                "(`manage.py load_demo_cases` adds the demo's)."
            )
        return cases

    def _start(self, cases: list[TestCase], source: str, environment: str) -> list[TestSuiteRun]:
        by_project: dict[int, list[TestCase]] = {}
        for case in cases:
            by_project.setdefault(case.workflow.project_id, []).append(case)
        suites = []
        for project_cases in by_project.values():
            project = project_cases[0].workflow.project
            try:
                suite = start_suite(
                    project, user=None, source=source, environment=environment,
                    cases=project_cases,
                )  # fmt: skip
            except ProblemError as error:
                raise CommandError(f"{project.slug}: {error.message}") from None
            suites.append(suite)
        return suites

    # -- running -------------------------------------------------------------------------
    def _run_inline(self, suites: list[TestSuiteRun], options: dict[str, Any]) -> None:
        runs = [run for suite in suites for run in suite_runs(suite)]
        for index, run in enumerate(runs):
            run = drive_inline(run, timeout=options["timeout"])
            self._report_run(run)
            if options["fail_fast"] and run.status != RunStatus.PASSED:
                self._cancel(runs[index + 1 :], f"after '{_case_name(run)}' did not pass")
                self._drain_reports([later.pk for later in runs[index + 1 :]])
                break

    def _wait_for_workers(self, suites: list[TestSuiteRun], options: dict[str, Any]) -> None:
        runs = [run for suite in suites for run in suite_runs(suite)]
        ids = [run.pk for run in runs]
        last_change = started = time.monotonic()
        seen: dict[Any, str] = {run.pk: run.status for run in runs}
        while True:
            current = {
                run.pk: run
                for run in TestRun.objects.filter(pk__in=ids).select_related(
                    "workflow", "test_case"
                )
            }
            for run_id, run in current.items():
                if run.status != seen.get(run_id):
                    seen[run_id] = run.status
                    last_change = time.monotonic()
                if run.status not in ACTIVE_STATUSES and run_id not in self.shown:
                    self._report_run(run)
                    if options["fail_fast"] and run.status != RunStatus.PASSED:
                        self._cancel(list(current.values()), f"after '{_case_name(run)}' failed")
            active = [run for run in current.values() if run.status in ACTIVE_STATUSES]
            if not active:
                return
            now = time.monotonic()
            nobody = all(run.status == RunStatus.QUEUED for run in active)
            if nobody and now - last_change > options["worker_timeout"]:
                self._cancel(active, "no worker picked it up")
                self._drain_reports(ids)
                raise CommandError(
                    f"No worker picked up the test runs within {options['worker_timeout']:g} s. "
                    "Start one (`make worker` or `manage.py testrun_worker`), or run them in "
                    "this process with --inline.",
                    returncode=2,
                )
            if now - started > options["timeout"]:
                self._cancel(active, f"still running after {options['timeout']:g} s")
                self._drain_reports(ids)
                return
            time.sleep(POLL_SECONDS)

    def _drain_reports(self, ids: list[Any]) -> None:
        for run in TestRun.objects.filter(pk__in=ids).select_related("workflow", "test_case"):
            if run.pk not in self.shown and run.status not in ACTIVE_STATUSES:
                self._report_run(run)

    def _cancel(self, runs: list[TestRun], why: str) -> None:
        for run in runs:
            if run.pk in self.shown:
                continue
            try:
                cancel_run(run, reason=f"Cancelled by test_workflows {why}.")
            except RunStateError:
                continue  # it ended meanwhile; reported when seen

    # -- output --------------------------------------------------------------------------
    def _report_run(self, run: TestRun) -> None:
        self.shown.add(run.pk)
        self._line(run.status, f"{run.workflow.slug} › {_case_name(run)}", run.duration_ms)
        if run.status == RunStatus.PASSED:
            return
        failed = [item for item in run.assertion_results if item.get("passed") is False]
        for item in failed:
            self.stdout.write(f"      ✗ {item['message']}")
        if not failed and run.error:
            self.stdout.write(f"      {run.error}")

    def _line(self, status: str, name: str, duration_ms: int | None) -> None:
        self.finished += 1
        word = self._styled(status, f"{WORDS.get(status, status.upper()):<9}")
        timing = f"  ({_duration(duration_ms)})" if duration_ms is not None else ""
        self.stdout.write(f"[{self.finished}/{self.total}] {word} {name}{timing}")

    def _styled(self, status: str, text: str) -> str:
        if status == RunStatus.PASSED:
            return self.style.SUCCESS(text)
        if status == RunStatus.FAILED:
            return self.style.ERROR(text)
        return self.style.WARNING(text)

    def _summary(self, suites: list[TestSuiteRun], elapsed: float) -> None:
        rows = []
        for suite in suites:
            for run in suite_runs(suite):
                checks = [item for item in run.assertion_results if item.get("passed") is not None]
                held = sum(1 for item in checks if item["passed"])
                rows.append(
                    (run.workflow.slug, _case_name(run), run.status,
                     _duration(run.duration_ms), f"{held}/{len(checks)}")
                )  # fmt: skip
            for problem in suite.start_errors:
                rows.append((problem["workflow"], problem["name"], "error", "—", "—"))
        headers = ("Workflow", "Test case", "Result", "Time", "Checks")
        widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(5)]
        self.stdout.write("")
        self.stdout.write("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
        self.stdout.write("  ".join("-" * w for w in widths))
        for row in rows:
            cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)]
            cells[2] = self._styled(row[2], cells[2])
            self.stdout.write("  ".join(cells).rstrip())
        counts = _totals(suites)
        rate = f"{counts['passed'] / counts['total']:.0%}" if counts["total"] else "—"
        line = (
            f"{counts['total']} test cases: {counts['passed']} passed, {counts['failed']} failed,"
            f" {counts['error']} errors in {elapsed:.1f} s (pass rate {rate})."
        )
        all_passed = counts["passed"] == counts["total"]
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(line) if all_passed else self.style.ERROR(line))

    def _reports(
        self, suites: list[TestSuiteRun], options: dict[str, Any], source: str, elapsed: float
    ) -> None:
        if options["junit"]:
            options["junit"].write_bytes(junit_xml(suites))
            self.stdout.write(f"JUnit XML: {options['junit']}")
        if options["json"]:
            counts = _totals(suites)
            rate = round(counts["passed"] / counts["total"], 4) if counts["total"] else None
            report = {
                "status": "passed" if counts["passed"] == counts["total"] else "failed",
                "source": source,
                "environment": options["environment"],
                **counts,
                "pass_rate": rate,
                "duration_ms": int(elapsed * 1000),
                "suites": [suite_json(suite) for suite in suites],
            }
            options["json"].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
            self.stdout.write(f"JSON report: {options['json']}")


def _totals(suites: list[TestSuiteRun]) -> dict[str, int]:
    return {
        "total": sum(suite.total for suite in suites),
        "passed": sum(suite.passed_count for suite in suites),
        "failed": sum(suite.failed_count for suite in suites),
        "error": sum(suite.error_count for suite in suites),
    }


def _not_passed(suites: list[TestSuiteRun]) -> list[str]:
    names = [
        f"{run.workflow.slug} › {_case_name(run)} ({run.status})"
        for suite in suites
        for run in suite_runs(suite)
        if run.status != RunStatus.PASSED
    ]
    for suite in suites:
        names += [f"{p['workflow']} › {p['name']} (could not start)" for p in suite.start_errors]
    return names


def _case_name(run: TestRun) -> str:
    return run.test_case.name if run.test_case else f"run {run.short_id}"


def _duration(duration_ms: int | None) -> str:
    if duration_ms is None:
        return "—"
    return f"{duration_ms} ms" if duration_ms < 1000 else f"{duration_ms / 1000:.2f} s"
