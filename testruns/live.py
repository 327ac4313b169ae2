"""The run page's live updates: what changed since the last push, as htmx OOB fragments.

A `LiveView` belongs to one socket (or one poll request). It remembers the last seq it sent
and a fingerprint of every piece of the page it drew, so a push carries the new log lines
and only the pieces whose state changed (header, the step rows the events name, a loop's
progress, the graph…), never the whole run. Frames stay under MAX_FRAME_BYTES: a large
backlog of events is cut into several frames by size, not by count.

Events are read before the state, so what is drawn is at least as new as the last line
sent; every state change is written with (or before) an event, so the events after the
page's last line name everything that can differ from what the page shows.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from django.template.loader import render_to_string

from meshhook.models import WorkflowVersion
from testruns.loops import EventProgress
from testruns.models import RunEvent, StepRun, StepStatus, TestRun
from testruns.presenters import (
    MESSAGE_CHARS,
    RunState,
    log_lines,
    result_card,
    step_view,
    waterfall,
)

logger = logging.getLogger(__name__)

PAGE = "testruns/run_detail.html#"
MAX_FRAME_BYTES = 256 * 1024
LOG_CHUNK_BYTES = 160 * 1024
MAX_EVENTS_PER_READ = 2_000
# What one log line costs in a frame besides its text, and the text shown at most.
LINE_OVERHEAD_BYTES = 420
RUN_EVENTS = {"run_queued", "run_started", "run_paused", "run_resumed", "run_finished"}


class EventRow(NamedTuple):
    """A stored event as the live view reads it (the columns a push draws from)."""

    seq: int
    ts: datetime
    type: str
    node_id: str
    iteration: int | None
    level: str
    message: str
    data: Any


def render(name: str, context: dict[str, Any]) -> str:
    return render_to_string(PAGE + name, {"oob": True, **context})


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _run_phase(run: TestRun) -> str:
    """What of the run's status a step row draws: its buttons differ once the run is over,
    not between queued, running and paused (a pending row's "Run to here" is shown by the
    stylesheet while the header says paused), so starting, pausing and resuming redraw no
    row."""
    return "active" if run.is_active else "over"


def _row_fingerprint(step: StepRun, run: TestRun, next_node: str) -> tuple[Any, ...]:
    return (
        step.status, step.mocked, step.attempts, step.duration_ms, step.started_at,
        step.completed_at, step.input_overridden, step.reused, step.node_id == next_node,
        _run_phase(run), run.workflow_version_id,
    )  # fmt: skip


class LiveView:
    def __init__(self, run_id: Any, after: int, *, controls: bool) -> None:
        self.run_id = run_id
        self.after = after
        self.controls = controls
        self.sent: dict[str, Any] = {}
        self.progress: EventProgress | None = None
        self.items: dict[str, int | None] = {}
        self.closed = False
        self.more = False
        self.version: WorkflowVersion | None = None

    def next_frames(self, max_events: int = MAX_EVENTS_PER_READ) -> list[str]:
        """Frames for the events after `after` (at most `max_events` of them) and the state
        they changed; [] when there is nothing new. Moves `after` past what it returns."""
        # Plain rows, not model instances: a push reads up to 2,000 of them.
        newer = RunEvent.objects.filter(run_id=self.run_id, seq__gt=self.after).order_by("seq")
        events = [EventRow(*row) for row in newer.values_list(*EventRow._fields)[:max_events]]
        # A full read may have left more behind; a short one read all there was.
        self.more = len(events) == max_events
        if not events:
            return []
        # Not the payload or result: a push never draws them, and they can be megabytes.
        # The version (with its definition) never changes for a run: read once per view.
        related = ["workflow__project", "triggered_by", "source_run", "environment"]
        if self.version is None:
            related.append("workflow_version")
        run = (
            TestRun.objects.select_related(*related).defer("payload", "result").get(pk=self.run_id)
        )
        if self.version is None:
            self.version = run.workflow_version
        else:
            run.workflow_version = self.version
        sent = dict(self.sent)
        try:
            pieces = self._state_pieces(run, events)
            last = events[-1].seq
            if run.is_finished and last >= run.last_seq and not self.closed:
                # All there is has been sent: the page's socket closes (the poller stops).
                pieces.append(render("live_socket", {"run": run, "live": False}))
            frames = pack(self._log_chunks(events) + pieces)
        except Exception:
            self.sent = sent  # nothing of this push counts as sent
            raise
        self.after = last
        self.closed = self.closed or (run.is_finished and last >= run.last_seq)
        return frames

    # -- log lines --------------------------------------------------------------------
    def _log_chunks(self, events: list[EventRow]) -> list[str]:
        chunks: list[str] = []
        batch: list[EventRow] = []
        size = 0
        for event in events:
            cost = (
                LINE_OVERHEAD_BYTES
                + len(event.node_id)
                + 2 * min(len(event.message), MESSAGE_CHARS)
            )
            if batch and size + cost > LOG_CHUNK_BYTES:
                chunks += self._render_lines(batch)
                batch, size = [], 0
            batch.append(event)
            size += cost
        if batch:
            chunks += self._render_lines(batch)
        return chunks

    def _render_lines(self, events: list[EventRow]) -> list[str]:
        html = render("log_push", {"events": log_lines(events)})
        if len(html.encode()) <= MAX_FRAME_BYTES or len(events) == 1:
            return [html]
        half = len(events) // 2  # escaping made them bigger than estimated
        return self._render_lines(events[:half]) + self._render_lines(events[half:])

    # -- state ------------------------------------------------------------------------
    def _changed(self, key: str, fingerprint: Any) -> bool:
        if self.sent.get(key) == fingerprint:
            return False
        self.sent[key] = fingerprint
        return True

    def _state_pieces(self, run: TestRun, events: list[EventRow]) -> list[str]:
        state = RunState(run, progress=self.progress, items=self.items, with_json=False)
        if self.progress is None:
            self.progress = EventProgress(state.bodies)
            self.progress.load(run.pk, self.after)
            state.progress = self.progress
        touched_loops = self.progress.feed(events)
        run_wide = any(event.type in RUN_EVENTS for event in events)
        named = {event.node_id for event in events if event.node_id and event.iteration is None}
        base = {"run": run, "can_control": self.controls, "next_node": state.next_node}
        pieces: list[str] = []

        header = (
            run.status, run.finished_steps, run.total_steps, run.succeeded_count,
            run.failed_count, run.skipped_count, run.duration_ms, run.started_at, run.error,
            [s.fingerprint for s in state.running_loops()], self.controls,
        )  # fmt: skip
        if self._changed("header", header):
            pieces.append(render("header", {**base, **state.header_context()}))
        if run.is_finished and self._changed("result", run.status):
            card = result_card(run, state.top_level)  # reads the deferred result, once
            pieces.append(render("result_card", {**base, "result_card": card}))

        changed = [
            step
            for step in state.top_level
            if (run_wide or step.node_id in named)
            and self._changed(f"row:{step.node_id}", _row_fingerprint(step, run, state.next_node))
        ]
        # A pushed row that is closed on the page loads its input and output when opened
        # (hx-get): a run finishing 40 steps at once then costs 40 summaries to draw, not 40
        # JSON bodies and their forms. Failed rows open by themselves, so they come whole.
        failed = [s.pk for s in changed if s.status == StepStatus.FAILED]
        full = {s.pk: s for s in run.steps.filter(pk__in=failed)} if failed else {}
        for step in changed:
            if step.pk in full:
                view = step_view(full[step.pk], next_node=state.next_node)
            else:
                view = step_view(step, next_node=state.next_node, lazy=True)
            pieces.append(render("step_row", {**base, "sv": view}))

        loop_rows = state.loop_rows()
        for loop_id, summary in state.summaries().items():
            if loop_id not in touched_loops and loop_id not in named:
                continue  # its items changed only if events of the loop say so
            if self._changed(f"loop:{loop_id}", summary.fingerprint):
                pieces.append(render("loop_summary", {**base, "summary": summary}))
            if self._changed(f"loop-rows:{loop_id}", (summary.status, summary.recorded)):
                group = state.loop_group(step_view(loop_rows[loop_id], lazy=True), page=1)
                pieces.append(render("loop_iterations", {**base, "group": group}))

        # The statuses are only read again when events say a step may have changed; the
        # rest of what the graph draws (breakpoints, the next step) is on the run's row.
        if changed or touched_loops or run_wide or "statuses" not in self.sent:
            self.sent["statuses"] = _digest(state.statuses())
        graph = (self.sent["statuses"], run.breakpoints, state.next_node, run.is_active,
                 self.controls)  # fmt: skip
        if self._changed("graph", graph):
            pieces.append(render("graph_card", {**base, "graph": state.graph(),
                                                "breakpoints": run.breakpoints}))  # fmt: skip
        timing = [(s.node_id, s.status, s.started_at, s.duration_ms) for s in state.top_level]
        if changed and self._changed("waterfall", _digest(timing)):
            pieces.append(render("waterfall_card", {"waterfall": waterfall(state.top_level)}))

        next_key = (run.status, state.next_node, _digest(run.input_overrides.get(state.next_node)))
        if (run_wide or state.next_node in named) and self._changed("next", next_key):
            pieces.append(render("next_step_card", {**base, "next_step": state.next_step()}))
        return pieces


def pack(pieces: Iterable[str]) -> list[str]:
    """Pieces into as few frames as fit under MAX_FRAME_BYTES, in order."""
    frames: list[str] = []
    current: list[str] = []
    size = 0
    for piece in pieces:
        length = len(piece.encode())
        if length > MAX_FRAME_BYTES:
            # Cannot happen by construction (rows over LAZY_ROW_CHARS load on demand); if it
            # ever does, the page stays a little stale rather than its socket being closed.
            logger.error("A live-view piece of %d bytes was not sent", length)
            continue
        if current and size + length > MAX_FRAME_BYTES:
            frames.append("".join(current))
            current, size = [], 0
        current.append(piece)
        size += length
    if current:
        frames.append("".join(current))
    return frames
