"""Importing a run exported elsewhere (`GET /api/test-runs/<id>/export`), to view it here.

The imported run is an ordinary run row, read-only (`imported_at` set; no control, re-run
or single-step test accepts it) and marked "imported" wherever it is shown. It gets an id
of its own; `imported_from` keeps the original's, and importing the same run twice into one
project is refused (409, naming the first import). Its workflow is the definition's slug in
the chosen project: created from the definition when the project has no such workflow, and
otherwise the version whose definition is the one the run ran (409 when no version is: save
that definition first, then import). The whole file is checked before anything is written;
every problem is answered with its JSON path.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from meshhook.engine import DefinitionError, Problem, mask_headers, parse_definition
from meshhook.engine.problems import child_path
from meshhook.models import Project, Workflow, WorkflowVersion
from meshhook.problems import ProblemError
from meshhook.services.workflows import save_definition
from testruns.jsonread import Reader
from testruns.models import (
    TERMINAL_STATUSES,
    RunEvent,
    RunStatus,
    StepRun,
    StepStatus,
    TestRun,
)
from testruns.serializers import EXPORT_FORMAT
from testruns.services import RunStateError

MAX_STEPS = 100_000
MAX_EVENTS = 500_000


class ImportProblems(ProblemError):
    """The file cannot be imported; every problem with its path."""

    def __init__(self, problems: list[Problem]) -> None:
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"The export cannot be imported ({count} {noun}).", problems)


class ImportConflict(ProblemError):
    status = 409


def refuse_if_imported(run: TestRun) -> None:
    """Imported runs are read-only: no control, re-run or single-step test."""
    if run.is_imported:
        raise RunStateError("This run was imported from an export; it is read-only.")


def import_run(project: Project, document: Any, *, user: Any = None) -> TestRun:
    """Check the export `document` and store it as a read-only run of `project`."""
    reader = Reader()
    if not isinstance(document, dict):
        raise ImportProblems([Problem("$", "The export must be a JSON object.")])
    run, steps, events, definition = _read(reader, document)
    if reader.problems:
        raise ImportProblems(reader.problems)
    with transaction.atomic():
        if run.imported_from is not None:
            earlier = TestRun.objects.filter(project=project, imported_from=run.imported_from)
            first = earlier.values_list("id", flat=True).first()
            if first is not None:
                raise ImportConflict(
                    f"Run {run.imported_from} was imported already, as {first}.",
                    [Problem("id", f"Already imported as run {first}.")],
                )
        version = _version_for(project, definition, user)
        run.project = project
        run.workflow = version.workflow
        run.workflow_version = version
        run.save(force_insert=True)
        for step in steps:
            step.run = run
        for event in events:
            event.run = run
        StepRun.objects.bulk_create(steps, batch_size=1000)
        RunEvent.objects.bulk_create(events, batch_size=1000)
    return run


def _version_for(project: Project, definition: dict[str, Any], user: Any) -> WorkflowVersion:
    slug = definition["slug"]
    workflow = Workflow.objects.filter(project=project, slug=slug).first()
    if workflow is None:
        return save_definition(project, definition, user=user, new_only=True).version
    for version in workflow.versions.order_by("-number"):
        if version.definition == definition:
            return version
    raise ImportConflict(
        f"No version of workflow '{slug}' has the definition this run ran; save it as a "
        f"new version (PUT /api/workflows/{slug}) and import again.",
        [Problem("definition", f"No version of workflow '{slug}' has this definition.")],
    )


def _read(
    reader: Reader, doc: dict[str, Any]
) -> tuple[TestRun, list[StepRun], list[RunEvent], dict[str, Any]]:
    if doc.get("format") != EXPORT_FORMAT:
        reader.problem("format", f"Not a test-run export: the format must be '{EXPORT_FORMAT}'.")
    definition = reader.field(doc, "definition", "$", "object", default={})
    node_order: dict[str, int] = {}
    if definition:
        try:
            parsed = parse_definition(definition)
        except DefinitionError as error:
            for problem in error.problems:
                reader.problem(_under("definition", problem.path), problem.message)
        else:
            node_order = {node.id: index for index, node in enumerate(parsed.nodes)}

    finished = [str(status) for status in TERMINAL_STATUSES]
    status = reader.field(doc, "status", "$", "str", choices=finished, default=RunStatus.ERROR)
    params = reader.field(doc, "parameters", "$", "object", default={})
    headers = reader.field(params, "headers", "parameters", "object", required=False, default={})
    for name, value in headers.items():
        if not isinstance(value, str):
            reader.problem(child_path("parameters.headers", name), "A header value is text.")
    summary = reader.field(doc, "summary", "$", "object", required=False, default={})
    counts = {
        key: reader.field(summary, key, "summary", "int", required=False, default=0)
        for key in ("total", "succeeded", "failed", "skipped")
    }
    assertions = reader.field(doc, "assertions", "$", "list", required=False, default=[])
    run = TestRun(
        id=uuid.uuid4(),
        imported_from=reader.field(doc, "id", "$", "uuid", required=False, nullable=True),
        imported_at=timezone.now(),
        environment_name=reader.field(doc, "environment", "$", "str", default="")[:64],
        mode=reader.field(doc, "mode", "$", "str", choices=TestRun.Mode.values, default="auto"),
        status=status,
        payload=reader.field(params, "payload", "parameters", required=False, default={}),
        headers=mask_headers({k: v for k, v in headers.items() if isinstance(v, str)}),
        breakpoints=reader.field(
            params, "breakpoints", "parameters", "list", required=False, default=[]
        ),
        mocks=reader.field(params, "mocks", "parameters", "object", required=False, default={}),
        honor_delays=reader.field(
            params, "honor_delays", "parameters", "bool", required=False, default=False
        ),
        source=reader.field(
            doc, "source", "$", "str", required=False, choices=TestRun.Source.values,
            default=TestRun.Source.API,
        ),
        from_step=(reader.field(doc, "from_step", "$", "str", required=False, nullable=True)
                   or "")[:64],
        created_at=reader.field(doc, "created_at", "$", "time", default=timezone.now()),
        started_at=reader.time(doc, "started_at", "$"),
        completed_at=reader.time(doc, "completed_at", "$"),
        duration_ms=reader.field(doc, "duration_ms", "$", "int", nullable=True),
        result=reader.field(doc, "result", "$", required=False),
        error=reader.field(doc, "error", "$", "str", nullable=True) or "",
        total_steps=counts["total"],
        succeeded_count=counts["succeeded"],
        failed_count=counts["failed"],
        skipped_count=counts["skipped"],
        assertion_results=[item for item in assertions if isinstance(item, dict)],
    )  # fmt: skip
    steps = _read_steps(reader, reader.field(doc, "steps", "$", "list", default=[]), node_order)
    events = _read_events(reader, reader.field(doc, "events", "$", "list", default=[]))
    run.last_seq = max((event.seq for event in events), default=0)
    return run, steps, events, definition


def _under(prefix: str, path: str) -> str:
    if path in ("", "$"):
        return prefix
    return f"{prefix}{path}" if path.startswith("[") else f"{prefix}.{path}"


def _read_steps(reader: Reader, items: list[Any], node_order: dict[str, int]) -> list[StepRun]:
    if len(items) > MAX_STEPS:
        reader.problem("steps", f"More than {MAX_STEPS:,} steps.")
        return []
    steps: list[StepRun] = []
    seen: set[tuple[str, int | None]] = set()
    for index, item in enumerate(items):
        path = f"steps[{index}]"
        if not isinstance(item, dict):
            reader.problem(path, "A step must be an object.")
            continue
        node_id = reader.field(item, "node_id", path, "str", default="")
        iteration = reader.field(item, "iteration", path, "int", required=False, nullable=True)
        if node_id and node_order and node_id not in node_order:
            reader.problem(f"{path}.node_id", f"The definition has no node '{node_id}'.")
        for number, exchange in enumerate(item.get("http") or []):
            if not isinstance(exchange, dict):
                reader.problem(f"{path}.http[{number}]", "An HTTP exchange must be an object.")
        if (node_id, iteration) in seen:
            reader.problem(path, f"Step '{node_id}' is listed twice.")
        seen.add((node_id, iteration))
        steps.append(
            StepRun(
                node_id=node_id[:64],
                iteration=iteration,
                parent_node_id=(
                    reader.field(item, "parent", path, "str", required=False, nullable=True) or ""
                )[:64],
                node_type=reader.field(item, "type", path, "str", default="")[:32],
                label=reader.field(item, "label", path, "str", default="")[:200],
                status=reader.field(
                    item, "status", path, "str", choices=StepStatus.values, default="pending"
                ),
                mocked=reader.field(item, "mocked", path, "bool", default=False),
                reused=reader.field(item, "reused", path, "bool", required=False, default=False),
                input_overridden=reader.field(
                    item, "input_overridden", path, "bool", required=False, default=False
                ),
                attempts=reader.field(item, "attempts", path, "int", default=0),
                input=reader.field(item, "input", path),
                output=reader.field(item, "output", path),
                error=reader.field(item, "error", path, "str", nullable=True) or "",
                resolved_config=reader.field(item, "resolved_config", path, required=False),
                http=reader.field(item, "http", path, "list", required=False, default=[]),
                branch=reader.field(item, "branch", path, "bool", required=False, nullable=True),
                started_at=reader.time(item, "started_at", path),
                completed_at=reader.time(item, "completed_at", path),
                duration_ms=reader.field(item, "duration_ms", path, "int", nullable=True),
                # The export lists steps in the run's order; positions keep that order.
                position=index,
                definition_index=node_order.get(node_id, 0),
            )
        )
    return steps


def _read_events(reader: Reader, items: list[Any]) -> list[RunEvent]:
    if len(items) > MAX_EVENTS:
        reader.problem("events", f"More than {MAX_EVENTS:,} events.")
        return []
    events: list[RunEvent] = []
    last = 0
    for index, item in enumerate(items):
        path = f"events[{index}]"
        if not isinstance(item, dict):
            reader.problem(path, "An event must be an object.")
            continue
        seq = reader.field(item, "seq", path, "int")
        if seq is None:
            seq = last + 1  # reported already
        elif seq <= last:
            reader.problem(f"{path}.seq", "Events must be listed by seq, each once, from 1.")
        last = max(last, seq)
        events.append(
            RunEvent(
                seq=seq,
                ts=reader.field(item, "ts", path, "time", default=timezone.now()),
                type=reader.field(
                    item, "type", path, "str", choices=RunEvent.Type.values, default="log"
                ),
                node_id=(reader.field(item, "node_id", path, "str", nullable=True) or "")[:64],
                iteration=reader.field(item, "iteration", path, "int", required=False,
                                       nullable=True),
                level=reader.field(
                    item, "level", path, "str", choices=RunEvent.Level.values, default="info"
                ),
                message=reader.field(item, "message", path, "str", default=""),
                data=reader.field(item, "data", path, "object", required=False, default={}),
            )
        )  # fmt: skip
    return events
