"""What the run page shows, built once for the page, HTMX fragments and socket pushes.

Big values never travel whole: a JSON value over INLINE_JSON_BYTES is drawn as a preview
with its size, and the full value is fetched on demand (testruns.step_views). Loop
iterations are grouped under their loop and paged (testruns.loops), so a run with
20,000 step rows draws its top-level steps, a few aggregates and one page per loop.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.urls import reverse
from django.utils import timezone

from meshhook.graphlayout import TYPE_NAMES, GraphLayout, layout
from meshhook.strictjson import JsonInputError, loads, pretty
from testruns import loops
from testruns.loops import EventProgress, IterationPage, LoggedEvent, LoopSummary
from testruns.models import RunEvent, RunStatus, StepRun, StepStatus, TestRun
from testruns.serializers import run_socket_path

INLINE_JSON_BYTES = 16 * 1024
PREVIEW_CHARS = 2_000
# "Show all" puts the value in the page; past this size only the download is offered.
SHOW_ALL_MAX_BYTES = 2_000_000
# A step whose shown values add up to more than this loads its details when opened, so
# that no single piece of a push can come near the frame limit.
LAZY_ROW_CHARS = 96 * 1024
LOG_TAIL = 500
OPEN_LOOP_ITEMS = 10
# A log line shows at most this much of its message (the API and export have it all).
MESSAGE_CHARS = 8_000
JSON_FIELDS = loops.JSON_FIELDS


@dataclass(frozen=True)
class JsonView:
    """A JSON value as a step shows it: whole when small, else a preview and its size."""

    label: str
    text: str
    size: int  # bytes of the value as JSON
    truncated: bool
    url: str
    dom_id: str
    note: str = ""  # what the page shows differently from the stored value

    @property
    def can_show_all(self) -> bool:
        return self.size <= SHOW_ALL_MAX_BYTES


_PRETTY = json.JSONEncoder(indent=2, ensure_ascii=False, default=str)


def json_view(
    value: Any, *, label: str, url: str, dom_id: str, whole: bool = False, note: str = ""
) -> JsonView:
    # Measured with the C encoder; only a preview's first lines are indented (indenting is
    # pure Python and would cost ~50 ms for a 500 KB value on every push that draws it).
    size = len(json.dumps(value, ensure_ascii=False, default=str).encode())
    if whole or size <= INLINE_JSON_BYTES:
        return JsonView(label, pretty(value), size, False, url, dom_id, note)
    chunks: list[str] = []
    length = 0
    for chunk in _PRETTY.iterencode(value):
        chunks.append(chunk)
        length += len(chunk)
        if length >= PREVIEW_CHARS:
            break
    text = "".join(chunks)[:PREVIEW_CHARS]
    cut = text.rfind("\n")
    return JsonView(label, text[:cut] if cut > 0 else text, size, True, url, dom_id, note)


def readable_exchange(side: Any) -> tuple[Any, str]:
    """An HTTP request or response as the page shows it: a body that is JSON text is shown
    parsed, so that it reads (and its paths copy) like any other value. The note says so."""
    if not isinstance(side, dict):
        return side, ""
    body = side.get("body")
    if not isinstance(body, str) or body.lstrip()[:1] not in ("{", "["):
        return side, ""
    try:
        parsed = loads(body)
    except (JsonInputError, ValueError):
        return side, ""  # not JSON after all, or cut short when it was recorded
    return {**side, "body": parsed}, "body parsed from JSON text"


@dataclass(frozen=True)
class LogLine:
    """One event as a log line: formatted here, not by template filters, because a push
    can carry thousands of them (Django's `date` filter alone costs ~60 µs a line)."""

    seq: int
    level: str
    type: str
    node_id: str
    iteration: int | None
    time: str
    message: str


def log_lines(events: Sequence[LoggedEvent]) -> list[LogLine]:
    zone = timezone.get_current_timezone()
    return [
        LogLine(
            seq=event.seq,
            level=event.level,
            type=event.type,
            node_id=event.node_id,
            iteration=event.iteration,
            time=event.ts.astimezone(zone).strftime("%H:%M:%S.%f")[:12],
            message=event.message
            if len(event.message) <= MESSAGE_CHARS
            else event.message[: MESSAGE_CHARS - 1] + "…",
        )
        for event in events
    ]


@dataclass(frozen=True)
class ExchangeView:
    attempt: Any
    status: Any
    duration_ms: Any
    error: str
    request: JsonView
    response: JsonView
    method: str = ""
    url: str = ""


@dataclass
class StepView:
    step: StepRun
    type_name: str
    dom_id: str
    is_next: bool
    body_url: str
    lazy: bool  # the details load when opened (iterations, oversized steps)
    input: JsonView | None = None
    output: JsonView | None = None
    config: JsonView | None = None
    http: list[ExchangeView] = field(default_factory=list)
    loop: LoopGroup | None = None
    tolerated: bool = False  # failed with `on_error: continue`: the run went on

    @property
    def status(self) -> str:
        return self.step.display_status

    @property
    def editable_input(self) -> str | None:
        """The input as editable text, or None when it is too large to edit in the page."""
        if self.input is None:
            return "null"
        return None if self.input.truncated else self.input.text


@dataclass
class LoopGroup:
    summary: LoopSummary
    page: IterationPage | None  # None: loaded when the iterations are opened
    rows: list[StepView]

    @property
    def open(self) -> bool:
        """A small finished loop shows its items at once; others when the user asks."""
        summary = self.summary
        finished = summary.status not in (StepStatus.PENDING, StepStatus.RUNNING)
        return self.page is not None and finished and summary.recorded <= OPEN_LOOP_ITEMS


def step_dom_id(step: StepRun) -> str:
    suffix = f"-{step.iteration}" if step.iteration is not None else ""
    return f"step-{step.node_id}{suffix}"


@functools.lru_cache(maxsize=512)
def _continuing_nodes_of_run(run_id: Any) -> frozenset[str]:
    # A run keeps the definition it ran, so what it says about a node never changes.
    definition = TestRun.objects.filter(pk=run_id).values_list(
        "workflow_version__definition", flat=True
    )
    return continuing_nodes(definition.first() or {})


def continuing_nodes(definition: dict[str, Any]) -> frozenset[str]:
    """The ids of the nodes whose failure the run goes on after (`on_error: continue`)."""
    nodes = definition.get("nodes") if isinstance(definition, dict) else None
    return frozenset(
        str(node.get("id"))
        for node in nodes or []
        if isinstance(node, dict) and node.get("on_error") == "continue"
    )


def is_tolerated(step: StepRun) -> bool:
    """A failed step the run went on after. Not the step a cancel or an infrastructure
    error interrupted: that one did not fail by itself."""
    if step.status != StepStatus.FAILED or step.display_status != "failed":
        return False
    run = step.run if StepRun.run.is_cached(step) else None
    if run is not None and run.status == RunStatus.ERROR and step.error == run.error:
        return False
    if run is not None and TestRun.workflow_version.is_cached(run):
        return step.node_id in continuing_nodes(run.workflow_version.definition)
    # Not loaded here (a live push, a page of loop items): read once per run and process.
    return step.node_id in _continuing_nodes_of_run(step.run_id)


def step_view(step: StepRun, *, next_node: str = "", lazy: bool = False) -> StepView:
    """`lazy` touches none of the JSON columns (they may be deferred)."""
    run_id = step.run_id

    def value_url(part: str) -> str:
        return reverse("testrun_step_value", args=[run_id, step.pk, part])

    view = StepView(
        step=step,
        type_name=TYPE_NAMES.get(step.node_type, step.node_type),
        dom_id=step_dom_id(step),
        is_next=bool(next_node) and step.node_id == next_node and step.iteration is None,
        body_url=reverse("testrun_step", args=[run_id, step.pk]),
        lazy=lazy,
        tolerated=is_tolerated(step),
    )
    if lazy:
        return view
    prefix = f"{step.pk}"
    if step.input is not None:
        view.input = json_view(step.input, label="Input", url=value_url("input"),
                               dom_id=f"in-{prefix}")  # fmt: skip
    if step.output is not None:
        view.output = json_view(step.output, label="Output", url=value_url("output"),
                                dom_id=f"out-{prefix}")  # fmt: skip
    if step.resolved_config is not None:
        view.config = json_view(step.resolved_config, label="Rendered config",
                                url=value_url("config"), dom_id=f"cfg-{prefix}")  # fmt: skip
    for number, exchange in enumerate(step.http or [], start=1):
        if not isinstance(exchange, dict):
            continue
        response = exchange.get("response")
        request, request_note = readable_exchange(exchange.get("request"))
        shown_response, response_note = readable_exchange(response)
        view.http.append(
            ExchangeView(
                attempt=exchange.get("attempt", number),
                status=response.get("status") if isinstance(response, dict) else None,
                duration_ms=exchange.get("duration_ms"),
                error=str(exchange.get("error") or ""),
                request=json_view(request, label="Request",
                                  url=value_url(f"request-{number}"),
                                  dom_id=f"req-{prefix}-{number}", note=request_note),
                response=json_view(shown_response, label="Response",
                                   url=value_url(f"response-{number}"),
                                   dom_id=f"resp-{prefix}-{number}", note=response_note),
                method=str(request.get("method") or "") if isinstance(request, dict) else "",
                url=str(request.get("url") or "") if isinstance(request, dict) else "",
            )
        )  # fmt: skip
    shown = [view.input, view.output, view.config]
    shown += [v for x in view.http for v in (x.request, x.response)]
    if sum(len(v.text) for v in shown if v is not None) > LAZY_ROW_CHARS:
        return step_view(step, next_node=next_node, lazy=True)
    return view


def node_statuses(top_level: list[StepRun], body: dict[str, set[str]]) -> dict[str, str]:
    """One colour per graph node; a loop body node shows its worst iteration."""
    rank = {"failed": 5, "running": 4, "mocked": 3, "succeeded": 2, "skipped": 1, "pending": 0}
    statuses = {step.node_id: step.display_status for step in top_level}
    for node_id, seen in body.items():
        statuses[node_id] = max(seen, key=lambda status: rank.get(status, 0))
    return statuses


def waterfall(steps: list[StepRun]) -> dict[str, Any]:
    """Bars for the timing waterfall of the top-level steps that ran, on active time.

    Time when no step was running (a step-mode run sitting paused, a breakpoint, the
    worker between steps) is left off the axis: each bar starts where the steps before it
    left off, so a run stepped through by hand reads like the same run in one go.
    """
    timed = [s for s in steps if s.started_at and s.iteration is None and not s.parent_node_id]
    if not timed:
        return {"rows": [], "height": 0, "total_ms": 0, "ticks": []}
    origin = min(s.started_at for s in timed if s.started_at)
    rows: list[dict[str, Any]] = []
    for index, step in enumerate(timed):
        assert step.started_at is not None
        if step.duration_ms is not None:
            duration: float = step.duration_ms
        elif step.status == StepStatus.RUNNING:  # so far
            duration = (timezone.now() - step.started_at).total_seconds() * 1000
        elif step.completed_at is not None:
            duration = (step.completed_at - step.started_at).total_seconds() * 1000
        else:
            duration = 0
        real_start = (step.started_at - origin).total_seconds() * 1000
        rows.append({"step": step, "real_start": real_start, "duration_ms": round(duration),
                     "length": max(0.0, duration), "y": 8 + index * 24})  # fmt: skip
    idle_ms = 0.0
    reached: float | None = None  # real time until which some step was running
    for row in sorted(rows, key=lambda r: r["real_start"]):
        if reached is not None and row["real_start"] > reached:
            idle_ms += row["real_start"] - reached
        row["start_ms"] = row["real_start"] - idle_ms
        end = row["real_start"] + row["length"]
        reached = end if reached is None else max(reached, end)
    total = max(row["start_ms"] + row["length"] for row in rows)
    step_ms, axis_ms = _axis(total)
    label_w, chart_w = 150, 440
    for row in rows:
        row["x"] = round(label_w + row["start_ms"] / axis_ms * chart_w, 2)
        row["w"] = round(max(3.0, row["length"] / axis_ms * chart_w), 2)
        row["text_y"] = row["y"] + 13
        row["end_x"] = round(row["x"] + row["w"] + 4, 2)
        row["duration_label"] = _duration_label(row["length"])
    count = round(axis_ms / step_ms)
    ticks = [
        {"x": round(label_w + chart_w * i / count, 2), "label": _tick_label(i * step_ms, step_ms)}
        for i in range(count + 1)
    ]
    return {
        "rows": rows,
        "height": 16 + len(rows) * 24 + 14,
        "total_ms": round(total),
        "total_label": _duration_label(total),
        "idle_ms": round(idle_ms),
        "idle_label": _duration_label(idle_ms) if idle_ms >= 1 else "",
        "ticks": ticks,
        "label_w": label_w,
        "width": label_w + chart_w + 50,
    }


def _axis(total_ms: float) -> tuple[float, float]:
    """A tick step of 1, 2 or 5 × 10ⁿ ms giving at most four intervals, and the axis end
    (a whole number of steps, at least 1 ms), so no two tick labels read the same."""
    span = max(total_ms, 1.0)
    magnitude = 10 ** math.floor(math.log10(span / 4))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude * 4 >= span)
    return step, step * math.ceil(span / step - 1e-9)


def _tick_label(value_ms: float, step_ms: float) -> str:
    if value_ms == 0:
        return "0 s" if step_ms >= 1000 else "0 ms"
    if step_ms >= 1000:
        seconds = value_ms / 1000
        return f"{seconds:,.{_decimals(step_ms / 1000)}f} s"
    return f"{value_ms:,.{_decimals(step_ms)}f} ms"


def _decimals(step: float) -> int:
    """Digits after the point that tell multiples of `step` apart (1 → 0, 0.5 → 1)."""
    return max(0, -math.floor(math.log10(step) + 1e-9))


def _duration_label(ms: float) -> str:
    if ms < 10 and ms != round(ms):
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{round(ms)} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes} min {seconds} s"


class RunState:
    """A run's drawable state, read with as few rows as the page needs.

    Top-level steps are read once (with or without their JSON); loop bodies only as
    aggregates, plus one page of iterations where a page is wanted."""

    def __init__(
        self,
        run: TestRun,
        *,
        progress: EventProgress | None = None,
        items: dict[str, int | None] | None = None,
        with_json: bool = True,
    ) -> None:
        self.run = run
        self.definition: dict[str, Any] = run.workflow_version.definition
        self.bodies = loops.loop_bodies(self.definition)
        # Top-level rows only (no parent, no item); the loops' items are read as aggregates.
        rows = run.steps.filter(parent_node_id="", iteration__isnull=True).order_by()
        self.top_level: list[StepRun] = (
            rows if with_json else rows.defer(*JSON_FIELDS)
        ).in_run_order()
        self.next_node = run.paused_before if run.status == "paused" else ""
        self.progress = progress
        self.items = items if items is not None else {}
        self._summaries: dict[str, LoopSummary] | None = None
        self._statuses: dict[str, str] | None = None

    def loop_rows(self) -> dict[str, StepRun]:
        return {s.node_id: s for s in self.top_level if s.node_id in self.bodies}

    def summaries(self) -> dict[str, LoopSummary]:
        if self._summaries is None:
            loop_rows = self.loop_rows()
            counts = loops.recorded_counts(self.run, loop_rows)
            summaries = {}
            for loop_id, row in loop_rows.items():
                if row.status == StepStatus.RUNNING and loop_id not in self.items:
                    known = self.progress.items.get(loop_id) if self.progress else None
                    self.items[loop_id] = known or loops.expected_items(self.run, loop_id)
                summaries[loop_id] = loops.summarise(
                    row, self.bodies[loop_id], counts.get(loop_id, (0, 0)), self.progress,
                    self.items.get(loop_id),
                )  # fmt: skip
            self._summaries = summaries
        return self._summaries

    def running_loops(self) -> list[LoopSummary]:
        return [s for s in self.summaries().values() if s.running]

    def statuses(self) -> dict[str, str]:
        if self._statuses is None:
            body = loops.body_statuses(self.run, self.bodies)
            for loop_id, row in self.loop_rows().items():
                if row.status == StepStatus.RUNNING:
                    # Items are recorded when the loop ends; until then its body is at work.
                    for node_id in self.bodies[loop_id]:
                        seen = body.setdefault(node_id, set())
                        seen.discard(StepStatus.PENDING)
                        seen.add(StepStatus.RUNNING)
            self._statuses = node_statuses(self.top_level, body)
        return self._statuses

    def graph(self) -> GraphLayout:
        return layout(self.definition, self.statuses(), self.top_level, self.next_node)

    def loop_group(self, view: StepView, *, page: int | None = 1) -> LoopGroup:
        summary = self.summaries()[view.step.node_id]
        if page is None:
            return LoopGroup(summary, None, [])
        listing = loops.iteration_page(self.run, view.step, summary, page=page, only_failed=False)
        rows = [step_view(row, lazy=True) for row in listing.rows]
        return LoopGroup(summary, listing, rows)

    def row(self, step: StepRun, *, loop_page: int | None = None) -> StepView:
        view = step_view(step, next_node=self.next_node)
        if step.node_id in self.bodies:
            view.loop = self.loop_group(view, page=loop_page)
        return view

    def next_step(self) -> StepView | None:
        step = next((s for s in self.top_level if s.node_id == self.next_node), None)
        if step is not None and "input" in step.get_deferred_fields():
            step = self.run.steps.get(pk=step.pk)
        return step_view(step, next_node=self.next_node) if step is not None else None

    def header_context(self) -> dict[str, Any]:
        return {"run": self.run, "running_loops": self.running_loops()}


@dataclass(frozen=True)
class ResultCard:
    """How a finished run ended: its final status line, the step that ended it, the failures
    it went on after, and its final output (`run.result`)."""

    status: str
    line: str  # the run_finished event's text, e.g. "Test run passed: Order 7 shipped."
    ended_by: StepRun | None  # the terminate step, or the step whose failure failed the run
    tolerated: list[StepRun]
    output: JsonView | None


def result_card(run: TestRun, top_level: list[StepRun]) -> ResultCard | None:
    """None while the run is active. `top_level` may have its JSON columns deferred."""
    if not run.is_finished:
        return None
    finished = run.events.filter(type="run_finished").order_by("-seq")
    line = finished.values_list("message", flat=True).first() or f"Test run {run.status}."
    tolerated = [step for step in top_level if is_tolerated(step)]
    terminate = [s for s in top_level if s.node_type == "terminate" and s.status == "succeeded"]
    failed = [s for s in top_level if s.status == StepStatus.FAILED and s not in tolerated]
    ended_by = terminate[-1] if terminate else failed[-1] if failed else None
    output = None
    if run.result is not None:
        url = reverse("testrun_value", args=[run.id, "result"])
        output = json_view(run.result, label="Output", url=url, dom_id="run-result")
    return ResultCard(str(run.status), line, ended_by, tolerated, output)


def iteration_rows_shown_inline(summary: LoopSummary) -> bool:
    """Small or finished-in-one-page loops list their items at once; big ones on demand."""
    return summary.recorded <= summary.per_page and not summary.running


def run_context(run: TestRun, *, events_after: int | None = 0) -> dict[str, Any]:
    """Everything the run page's partials need. `events_after=None` loads no events.

    The log shows the last LOG_TAIL events (earlier ones load on demand). Events are read
    before the run's state, so the state drawn is at least as new as the last event shown:
    the page then never shows an old status next to a newer log line (after which the
    socket, resuming from that line, would have nothing left to send).
    """
    events: list[RunEvent] = []
    if events_after is not None:
        tail = list(run.events.filter(seq__gt=events_after).order_by("-seq")[: LOG_TAIL + 1])
        events = tail[:LOG_TAIL][::-1]
        earlier = len(tail) > LOG_TAIL
        run.refresh_from_db()
    else:
        earlier = False
    state = RunState(run)
    progress: EventProgress | None = None
    loop_rows = state.loop_rows()
    if any(row.status == StepStatus.RUNNING for row in loop_rows.values()):
        progress = EventProgress(state.bodies)
        progress.load(run.pk, events[-1].seq if events else run.last_seq)
        state.progress = progress
    steps = []
    for step in state.top_level:
        view = step_view(step, next_node=state.next_node)
        if step.node_id in state.bodies:
            summary = state.summaries()[step.node_id]
            view.loop = state.loop_group(
                view, page=1 if iteration_rows_shown_inline(summary) else None
            )
        steps.append(view)
    live = run.is_active
    return {
        "run": run,
        # The steps the page lists, in its order (a loop's shown items follow the loop);
        # `step_rows` is the same as the template draws it: loops with their items inside.
        "steps": [row for view in steps for row in [view, *(view.loop.rows if view.loop else [])]],
        "step_rows": steps,
        "graph": state.graph(),
        "next_node": state.next_node,
        "next_step": state.next_step(),
        "events": log_lines(events),
        "earlier_before": events[0].seq if earlier and events else None,
        "waterfall": waterfall(state.top_level),
        "node_ids": [n["id"] for n in state.definition.get("nodes", []) if isinstance(n, dict)],
        "breakpoints": run.breakpoints,
        "parameters": json_view(
            run.shown_parameters,
            label="Parameters",
            url=reverse("testrun_value", args=[run.id, "parameters"]),
            dom_id="run-params",
        ),
        "running_loops": state.running_loops(),
        "result_card": result_card(run, state.top_level),
        "pending": StepStatus.PENDING,
        "live": live,
        "ws_path": run_socket_path(run.id),
    }
