"""Test cases: validating what a user saves, and starting a run of one (DESIGN §8).

A test-case run is an ordinary test run (`services.start_test_run`) with the case's
parameters, where the caller's fields override the case's; on top it gets the case's
checks frozen into a `CaseRunSpec`, which `testruns.verdicts` evaluates when the run ends.

Replay (`replay_from_run`): every `http_call` and `webhook` node — and every loop whose body
holds one, as a mock replaces a node for all its iterations — is mocked with the output
that node had in the recorded run; a node the recording has no output for is mocked with
`null`. So a replay never sends a request. Mocks the case or the caller give win over
replayed ones. The replayed node ids are kept in `CaseRunSpec.replayed_nodes`, and the run's
log says so.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from meshhook.engine import Problem
from meshhook.engine import Workflow as EngineWorkflow
from meshhook.models import Workflow
from meshhook.problems import ProblemError
from meshhook.services.workflows import engine_workflow
from testruns import assertions, baseline
from testruns.eventlog import NewEvent, append_events
from testruns.models import PARAMETER_NAMES, TERMINAL_STATUSES, StepStatus, TestRun
from testruns.parameters import (
    ParameterError,
    keep_stored_credentials,
    seal_headers,
    validate_parameters,
)
from testruns.services import start_test_run
from testruns.testcase_models import CaseRunSpec, TestCase, TestSuiteRun

# What a client writes; the rest of the JSON (id, project, timestamps…) is read-only.
WRITABLE_FIELDS = (
    "workflow", "name", "description", "payload", "headers", "environment", "mocks",
    "assertions", "baseline_run", "volatile_paths", "replay_from_run",
)  # fmt: skip
READ_ONLY_FIELDS = ("id", "project", "created_at", "updated_at", "created_by", "url", "api_url")
OUTBOUND_TYPES = frozenset({"http_call", "webhook"})
MAX_NAME = 200
MAX_DESCRIPTION = 10_000


class TestCaseError(ProblemError):
    """A test case that does not hold, every problem with its path."""

    __test__ = False

    def __init__(self, problems: list[Problem]) -> None:
        count = len(problems)
        super().__init__(
            f"The test case is invalid ({count} problem{'s' if count != 1 else ''}).", problems
        )


def clean_test_case(
    workflow: Workflow, data: dict[str, Any], *, existing: TestCase | None = None
) -> dict[str, Any]:
    """The model fields for `data` (fields it leaves out keep `existing`'s values), or
    TestCaseError listing every problem."""
    problems: list[Problem] = []
    current = existing.editable_fields() if existing else _defaults()
    values = {**current, **{k: v for k, v in data.items() if k in WRITABLE_FIELDS}}
    definition = engine_workflow(workflow.current_version())
    node_ids = {node.id for node in definition.nodes}

    name = values["name"]
    if not isinstance(name, str) or not name.strip():
        problems.append(Problem("name", "Give the test case a name."))
    elif len(name) > MAX_NAME:
        problems.append(Problem("name", f"The name is longer than {MAX_NAME} characters."))
    else:
        name = name.strip()
        clash = TestCase.objects.filter(workflow=workflow, name=name)
        if existing is not None:
            clash = clash.exclude(pk=existing.pk)
        if clash.exists():
            problems.append(
                Problem("name", f"Workflow '{workflow.slug}' already has a test case '{name}'.")
            )
    description = values["description"]
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        problems.append(
            Problem("description", f"The description is text of at most {MAX_DESCRIPTION:,}.")
        )
    headers = values["headers"]
    if existing is not None and isinstance(headers, dict):
        # Credentials shown as the mask (the API, the console) keep the stored values.
        headers = values["headers"] = keep_stored_credentials(
            headers, existing.headers_for_engine()
        )
    try:
        params = validate_parameters(
            workflow.project,
            definition,
            {key: values[key] for key in ("payload", "headers", "environment", "mocks")},
        )
    except ParameterError as error:
        problems += error.problems
    else:
        headers = params.headers  # as a run gets them: values as strings
    problems += assertions.validate(values["assertions"], node_ids)
    problems += [
        Problem(p, m) for p, m in baseline.validate_volatile_paths(values["volatile_paths"])
    ]
    runs = {}
    for key in ("baseline_run", "replay_from_run"):
        run, problem = _recorded_run(workflow, values[key], key)
        runs[key] = run
        if problem:
            problems.append(problem)
    if problems:
        raise TestCaseError(problems)
    return {
        "workflow": workflow,
        "name": name,
        "description": description,
        "payload": values["payload"],
        "headers": _sealed(headers or {}, existing),  # credentials encrypted at rest
        "environment_name": values["environment"] or "local",
        "mocks": values["mocks"] or {},
        "assertions": values["assertions"],
        "baseline_run": runs["baseline_run"],
        "volatile_paths": values["volatile_paths"],
        "replay_from_run": runs["replay_from_run"],
    }


def _sealed(headers: dict[str, Any], existing: TestCase | None) -> dict[str, Any]:
    """`headers` as stored, an unchanged credential keeping its stored ciphertext (a new
    one would differ every time: Fernet tokens carry a fresh IV)."""
    sealed = seal_headers(headers)
    if existing is None:
        return sealed
    opened = existing.headers_for_engine()
    return {
        name: existing.headers[name]
        if name in existing.headers and opened.get(name) == headers.get(name)
        else value
        for name, value in sealed.items()
    }


def _defaults() -> dict[str, Any]:
    return {
        "name": None, "description": "", "payload": {}, "headers": {}, "environment": "local",
        "mocks": {}, "assertions": [], "baseline_run": None, "volatile_paths": [],
        "replay_from_run": None,
    }  # fmt: skip


def _recorded_run(
    workflow: Workflow, value: Any, path: str
) -> tuple[TestRun | None, Problem | None]:
    """A finished run of this workflow, named by id (None stays None)."""
    if value is None:
        return None, None
    try:
        run_id = uuid.UUID(str(value))
    except ValueError:
        return None, Problem(path, f"{path} must be the id of a test run of this workflow.")
    run = TestRun.objects.filter(pk=run_id, workflow=workflow).first()
    if run is None:
        return None, Problem(path, f"No test run {run_id} of workflow '{workflow.slug}'.")
    if run.status not in TERMINAL_STATUSES:
        return None, Problem(path, f"Run {run.short_id} is {run.status}; use a finished run.")
    return run, None


def save_test_case(
    workflow: Workflow, data: dict[str, Any], *, user: Any, existing: TestCase | None = None
) -> TestCase:
    fields = clean_test_case(workflow, data, existing=existing)
    if existing is None:
        author = user if user is not None and user.is_authenticated else None
        return TestCase.objects.create(**fields, created_by=author)
    for name, value in fields.items():
        setattr(existing, name, value)
    existing.updated_at = timezone.now()
    existing.save()
    return existing


def case_from_run(
    run: TestRun, name: str, *, user: Any, extra_assertions: Sequence[dict[str, Any]] = ()
) -> TestCase:
    """The console's "Save as test case": the run's parameters, an assertion that it ends as it did
    (then `extra_assertions`), and the run itself as the baseline when it passed."""
    data: dict[str, Any] = {
        "name": name,
        "payload": run.payload,
        "headers": run.headers_for_engine(),
        "environment": run.environment_name,
        "mocks": run.mocks,
        "assertions": [
            {"target": "run.status", "op": "equals", "expected": "passed"},
            *extra_assertions,
        ],
        "baseline_run": str(run.id) if run.status == "passed" else None,
        "volatile_paths": ["steps.*.output.headers.date"],
    }
    return save_test_case(run.workflow, data, user=user)


# --- running a test case ---------------------------------------------------------------


def replay_mocks(source: TestRun, definition: EngineWorkflow) -> dict[str, Any]:
    """node id → the output to mock it with, for every outbound node (see module doc)."""
    loops = {node.parent for node in definition.nodes if node.type in OUTBOUND_TYPES}
    wanted = [
        node.id
        for node in definition.nodes
        if not node.parent and (node.type in OUTBOUND_TYPES or node.id in loops)
    ]
    recorded = {
        step.node_id: step
        for step in source.steps.filter(
            iteration__isnull=True, parent_node_id="", node_id__in=wanted
        )
    }
    mocks: dict[str, Any] = {}
    for node_id in wanted:
        step = recorded.get(node_id)
        answered = step is not None and step.status in (StepStatus.SUCCEEDED, StepStatus.FAILED)
        mocks[node_id] = step.output if answered and step is not None else None
    return mocks


@transaction.atomic
def start_case_run(
    case: TestCase,
    *,
    user: Any,
    source: str,
    overrides: dict[str, Any] | None = None,
    suite: TestSuiteRun | None = None,
    environment: str | None = None,
) -> TestRun:
    """Start a run of `case`; `overrides` (the run parameters a caller gives) win over the
    case's, and `environment` (a suite's or the CLI's) over both."""
    workflow = case.workflow
    version = workflow.current_version()
    definition = engine_workflow(version)
    raw: dict[str, Any] = {
        "payload": case.payload,
        "headers": case.headers_for_engine(),
        "environment": case.environment_name,
        "mocks": case.mocks,
        **{key: value for key, value in (overrides or {}).items() if key in PARAMETER_NAMES},
    }
    if environment:
        raw["environment"] = environment
    replayed: list[str] = []
    replay = case.replay_from_run
    if replay is not None:
        recorded = replay_mocks(replay, definition)
        given = dict(raw.get("mocks") or {})
        replayed = [node_id for node_id in recorded if node_id not in given]
        raw["mocks"] = {**recorded, **given}
    params = validate_parameters(workflow.project, definition, raw)
    run = start_test_run(workflow, params, user=user, source=source, version=version)
    pending = assertions.not_evaluated(case.assertions, "the run has not finished")
    TestRun.objects.filter(pk=run.pk).update(test_case=case, suite=suite, assertion_results=pending)
    run.test_case, run.suite, run.assertion_results = case, suite, pending
    CaseRunSpec.objects.create(
        run=run,
        assertions=case.assertions,
        baseline_run=case.baseline_run,
        volatile_paths=case.volatile_paths,
        replay_from_run=replay,
        replayed_nodes=replayed,
    )
    if replay is not None:
        nodes = ", ".join(f"'{node_id}'" for node_id in replayed) or "no node"
        message = (
            f"Replaying run {replay.short_id}: {nodes} answered from its recording, "
            "no request sent."
        )
        event = NewEvent(
            "log", message, data={"replay_from_run": str(replay.id), "replayed": replayed}
        )
        append_events(run.id, [event])
    return run
