"""Loop iterations on the run page: grouped under their loop, counted and paged.

A 750-item loop has thousands of step rows; the page never loads them all. It shows each
loop with aggregate counts ("750 items · 0 failed") and one page of iterations at a time,
with the rows' JSON columns deferred (an iteration's values load when it is opened).

While a loop runs, its progress comes from the event log (the single source of truth for
the live view): iterations run in order, so the highest iteration that has started tells
how many are done.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from django.db.models import Count, Max, Q

from testruns.models import RunEvent, StepRun, StepStatus, TestRun

# The columns an iteration page never needs: an opened iteration loads its own.
JSON_FIELDS = ("input", "output", "resolved_config", "http")
MAX_ITERATIONS_PER_PAGE = 50
MAX_ROWS_PER_PAGE = 200


class LoggedEvent(Protocol):
    """What a log line is drawn from: a stored RunEvent, or the live view's lighter row."""

    @property
    def seq(self) -> int: ...
    @property
    def ts(self) -> datetime: ...
    @property
    def type(self) -> str: ...
    @property
    def node_id(self) -> str: ...
    @property
    def iteration(self) -> int | None: ...
    @property
    def level(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def data(self) -> Any: ...


def loop_bodies(definition: dict[str, Any]) -> dict[str, list[str]]:
    """Each loop's body node ids, in definition order (loops cannot be nested)."""
    nodes = [n for n in definition.get("nodes", []) if isinstance(n, dict)]
    bodies: dict[str, list[str]] = {str(n["id"]): [] for n in nodes if n.get("type") == "loop"}
    for node in nodes:
        parent = node.get("parent")
        if parent in bodies:
            bodies[str(parent)].append(str(node["id"]))
    return bodies


def iterations_per_page(body_size: int) -> int:
    """50 items a page, fewer when each item has many body steps (≤ 200 rows a page)."""
    return max(1, min(MAX_ITERATIONS_PER_PAGE, MAX_ROWS_PER_PAGE // max(1, body_size)))


@dataclass
class LoopSummary:
    loop_id: str
    label: str
    status: str  # the loop step's display status
    body: list[str]
    total: int | None  # items, when known
    done: int  # iterations finished
    failed: int  # iterations with a failed body step
    recorded: int  # iterations with stored rows (what the pages list)

    @property
    def running(self) -> bool:
        return self.status == StepStatus.RUNNING

    @property
    def per_page(self) -> int:
        return iterations_per_page(len(self.body))

    @property
    def fingerprint(self) -> tuple[Any, ...]:
        return (self.status, self.total, self.done, self.failed, self.recorded)


@dataclass
class IterationPage:
    loop_id: str
    page: int  # 1-based
    pages: int
    per_page: int
    only_failed: bool
    count: int  # iterations in this listing (all, or only the failed ones)
    rows: list[StepRun] = field(default_factory=list)

    @property
    def first_item(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.count else 0

    @property
    def last_item(self) -> int:
        return min(self.count, self.page * self.per_page)

    @property
    def previous_page(self) -> int | None:
        return self.page - 1 if self.page > 1 else None

    @property
    def next_page(self) -> int | None:
        return self.page + 1 if self.page < self.pages else None


def recorded_counts(run: TestRun, loop_ids: Iterable[str]) -> dict[str, tuple[int, int]]:
    """Per loop: (iterations with rows, iterations with a failed row). One aggregate query."""
    ids = list(loop_ids)
    if not ids:
        return {}
    rows = (
        StepRun.objects.filter(run=run, parent_node_id__in=ids, iteration__isnull=False)
        .order_by()
        .values("parent_node_id")
        .annotate(
            # Items run in order from 0, so the highest is the count; cheaper than DISTINCT.
            last=Max("iteration"),
            failed=Count("iteration", distinct=True, filter=Q(status=StepStatus.FAILED)),
        )
    )
    return {row["parent_node_id"]: (row["last"] + 1, row["failed"]) for row in rows}


def body_statuses(run: TestRun, loop_ids: Iterable[str]) -> dict[str, set[str]]:
    """Every display status each body node has in some iteration (for the graph colours)."""
    ids = list(loop_ids)
    statuses: dict[str, set[str]] = {}
    if not ids:
        return statuses
    rows = (
        StepRun.objects.filter(run=run, parent_node_id__in=ids)
        .order_by()  # Meta.ordering would make DISTINCT select (and keep) every row
        .values_list("node_id", "status", "mocked")
        .distinct()
    )
    for node_id, status, mocked in rows:
        shown = "mocked" if status == StepStatus.SUCCEEDED and mocked else status
        statuses.setdefault(node_id, set()).add(shown)
    return statuses


class EventProgress:
    """How far each running loop has got, from the event log.

    `load` reads it once from the database (up to a seq); `feed` then follows the events a
    socket streams, so a push costs no extra query however long the loop is.
    """

    def __init__(self, bodies: dict[str, list[str]]) -> None:
        self.loop_of = {node: loop for loop, body in bodies.items() for node in body}
        self.bodies = bodies
        self.started: dict[str, int] = {}  # loop → iterations begun
        self.failed: dict[str, set[int]] = {}
        self.items: dict[str, int] = {}  # loop → item count, when an event said it

    def load(self, run_id: Any, upto_seq: int) -> None:
        body_nodes = list(self.loop_of)
        if not body_nodes:
            return
        events = RunEvent.objects.filter(run_id=run_id, seq__lte=upto_seq)
        for loop_id, body in self.bodies.items():
            last = (
                events.filter(node_id__in=body, iteration__isnull=False)
                .order_by("-seq")
                .values_list("iteration", flat=True)
                .first()
            )
            if last is not None:
                self.started[loop_id] = last + 1
        failed = events.filter(
            node_id__in=body_nodes, iteration__isnull=False, type=RunEvent.Type.STEP_FAILED
        ).values_list("node_id", "iteration")
        for node_id, iteration in failed:
            if iteration is not None:
                self.failed.setdefault(self.loop_of[node_id], set()).add(iteration)
        loop_level = events.filter(node_id__in=list(self.bodies), iteration__isnull=True)
        self.feed(loop_level.only("node_id", "iteration", "type", "data").order_by("seq"))

    def feed(self, events: Iterable[LoggedEvent]) -> set[str]:
        """Follow streamed events; returns the loops they touched."""
        touched: set[str] = set()
        for event in events:
            if event.node_id in self.bodies and event.iteration is None:
                touched.add(event.node_id)
                count = event.data.get("items") if isinstance(event.data, dict) else None
                if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
                    self.items[event.node_id] = count
                continue
            loop_id = self.loop_of.get(event.node_id)
            if loop_id is None or event.iteration is None:
                continue
            touched.add(loop_id)
            self.started[loop_id] = max(self.started.get(loop_id, 0), event.iteration + 1)
            if event.type == RunEvent.Type.STEP_FAILED:
                self.failed.setdefault(loop_id, set()).add(event.iteration)
        return touched


def expected_items(run: TestRun, loop_id: str) -> int | None:
    """How many items a loop that is still running iterates over, or None.

    Asks the engine what the loop's input and rendered config are, as the worker does
    before pausing at a step, then applies the loop's `items` expression. Secrets are
    left out (a count needs none); anything the preview cannot resolve gives None.
    """
    from meshhook.engine import NO_OVERRIDE, ExecutionContext, RunInput, parse_definition
    from meshhook.engine.executor import preview_step
    from testruns.runstore import state_from_rows

    try:
        workflow = parse_definition(run.workflow_version.definition)
        environment = run.environment
        variables = dict(environment.variables) if environment and environment.is_test else {}
        run_input = RunInput(
            payload=run.payload,
            headers=run.headers_for_engine(),
            env=variables,
            run_id=str(run.id),
            environment=run.environment_name,
        )
        state = state_from_rows(workflow, run_input, run)
        override = run.input_overrides.get(loop_id, NO_OVERRIDE)
        preview = preview_step(workflow, loop_id, state, ExecutionContext(input_override=override))
        if preview.error is not None:
            return None
        items = workflow.node(loop_id).compiled["items"].search(preview.input)
    except Exception:  # a count is a nicety: never let it break the page
        return None
    return len(items) if isinstance(items, list) else None


def summarise(
    loop_row: StepRun,
    body: list[str],
    recorded: tuple[int, int],
    progress: EventProgress | None,
    total: int | None,
) -> LoopSummary:
    iterations, failed_rows = recorded
    status = loop_row.display_status
    done = iterations
    failed = failed_rows
    if progress is not None:
        total = progress.items.get(loop_row.node_id, total)
        if status == StepStatus.RUNNING:
            # The iteration that started last is still running.
            done = max(iterations, progress.started.get(loop_row.node_id, 0) - 1)
            failed = max(failed_rows, len(progress.failed.get(loop_row.node_id, ())))
    if total is None and status not in (StepStatus.PENDING, StepStatus.RUNNING):
        total = iterations
    if total is not None:
        done = min(done, total)
    return LoopSummary(
        loop_id=loop_row.node_id,
        label=loop_row.label,
        status=status,
        body=body,
        total=total,
        done=done,
        failed=failed,
        recorded=iterations,
    )


def iteration_page(
    run: TestRun, loop_row: StepRun, summary: LoopSummary, *, page: int, only_failed: bool
) -> IterationPage:
    """One page of a loop's iterations, in run order, with the JSON columns deferred.

    With no iteration recorded yet, the body's per-node rows (pending) stand in, as in
    `in_run_order`."""
    per_page = summary.per_page
    body = StepRun.objects.filter(run=run, parent_node_id=loop_row.node_id)
    failed: list[int] = []
    if only_failed:
        numbers = (
            body.filter(status=StepStatus.FAILED, iteration__isnull=False)
            .order_by()
            .values_list("iteration", flat=True)
        )
        failed = sorted({number for number in numbers if number is not None})
        count = len(failed)
    else:
        count = summary.recorded
    pages = max(1, math.ceil(count / per_page))
    page = min(max(1, page), pages)
    start = (page - 1) * per_page
    if only_failed:
        chosen = Q(iteration__in=failed[start : start + per_page])
    else:
        chosen = Q(iteration__gte=start, iteration__lt=start + per_page)
    if not only_failed and summary.recorded == 0:
        chosen |= Q(iteration__isnull=True)
    # The loop's own row comes along so that `in_run_order` files the iterations under it.
    items = Q(run=run, parent_node_id=loop_row.node_id) & chosen
    rows: Sequence[StepRun] = (
        StepRun.objects.filter(Q(pk=loop_row.pk) | items)
        .defer(*JSON_FIELDS)
        .order_by()  # in_run_order sorts; Meta.ordering would join the run to sort by it
        .in_run_order()
    )
    return IterationPage(
        loop_id=loop_row.node_id,
        page=page,
        pages=pages,
        per_page=per_page,
        only_failed=only_failed,
        count=count,
        rows=[row for row in rows if row.pk != loop_row.pk],
    )
