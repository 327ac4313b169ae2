"""The run page's on-demand pieces: a step's details, a whole JSON value (or its download),
a page of loop iterations, earlier log lines, and the polling fallback of the live view.

Each answers an htmx request with the run page's own partial, and a plain request (every
`hx-get` keeps a real `href`) with a small page around the same partial, or with the JSON
itself. Project-scoped: outsiders get 404, as for the run page.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from meshhook.htmx import HtmxHttpRequest
from meshhook.services.projects import can_edit
from meshhook.strictjson import pretty
from testruns.live import LiveView
from testruns.loops import iteration_page
from testruns.models import StepRun, TestRun
from testruns.presenters import (
    LOG_TAIL,
    RunState,
    json_view,
    log_lines,
    readable_exchange,
    step_view,
)
from testruns.queries import viewable_run_or_404

PAGE = "testruns/run_detail.html#"
HTTP_PART = re.compile(r"^(request|response)-([1-9][0-9]{0,3})$")
MAX_UPDATE_EVENTS = 1_000


def _can_control(request: HtmxHttpRequest, run: TestRun) -> bool:
    return can_edit(request.user, run.project)


def _fragment(
    request: HtmxHttpRequest, run: TestRun, name: str, context: dict[str, Any], title: str
) -> HttpResponse:
    context = {"run": run, "can_control": _can_control(request, run), **context}
    if request.htmx:
        return render(request, PAGE + name, context)
    page = {**context, "fragment": PAGE + name, "title": title, "nav": "testruns"}
    return render(request, "testruns/run_fragment.html", page)


def _step(run: TestRun, step_id: int) -> StepRun:
    step = run.steps.filter(pk=step_id).first()
    if step is None:
        raise Http404("No such step in this run.")
    return step


def _step_title(step: StepRun) -> str:
    where = f" · item {step.iteration}" if step.iteration is not None else ""
    return f"{step.label}{where}"


@login_required
@require_GET
def step_detail(request: HtmxHttpRequest, run_id: str, step_id: int) -> HttpResponse:
    """A step's input, output, HTTP exchanges and actions (loaded when a row is opened)."""
    run = viewable_run_or_404(request.user, run_id)
    step = _step(run, step_id)
    next_node = run.paused_before if run.status == "paused" else ""
    view = step_view(step, next_node=next_node)
    view.lazy = False  # this is the on-demand load: never defer it again
    context = {"sv": view, "next_node": next_node}
    return _fragment(request, run, "step_body", context, _step_title(step))


def _step_part(step: StepRun, part: str) -> tuple[str, Any, str]:
    """The label, the value as the step shows it, and the note on how it is shown."""
    if part in ("input", "output"):
        return part.capitalize(), getattr(step, part), ""
    if part == "config":
        return "Rendered config", step.resolved_config, ""
    match = HTTP_PART.match(part)
    if match is None:
        raise Http404("No such value.")
    side, number = match.group(1), int(match.group(2))
    exchanges = step.http or []
    if number > len(exchanges) or not isinstance(exchanges[number - 1], dict):
        raise Http404("No such HTTP attempt.")
    # As the step shows it: a JSON body parsed, so "show all" keeps the paths it had.
    return side.capitalize(), *readable_exchange(exchanges[number - 1].get(side))


def _json_answer(
    request: HtmxHttpRequest, run: TestRun, label: str, value: Any, *, url: str, dom_id: str,
    filename: str, note: str = "",
) -> HttpResponse:  # fmt: skip
    if request.GET.get("download"):
        response = HttpResponse(pretty(value), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    if request.htmx:
        whole = json_view(value, label=label, url=url, dom_id=dom_id, whole=True, note=note)
        bare = dom_id == "run-params"
        return render(request, PAGE + "json_value", {"jv": whole, "bare": bare})
    return HttpResponse(json.dumps(value, ensure_ascii=False), content_type="application/json")


@login_required
@require_GET
def step_value(request: HtmxHttpRequest, run_id: str, step_id: int, part: str) -> HttpResponse:
    """One whole value of a step: `input`, `output`, `config`, `request-N`, `response-N`."""
    run = viewable_run_or_404(request.user, run_id)
    step = _step(run, step_id)
    label, value, note = _step_part(step, part)
    prefix = {"input": "in", "output": "out", "config": "cfg"}.get(part)
    if prefix:
        dom_id = f"{prefix}-{step.pk}"
    else:
        side, number = part.split("-")
        dom_id = f"{'req' if side == 'request' else 'resp'}-{step.pk}-{number}"
    suffix = f"-{step.iteration}" if step.iteration is not None else ""
    filename = f"test-run-{run.short_id}-{step.node_id}{suffix}-{part}.json"
    return _json_answer(request, run, label, value, url=request.path, dom_id=dom_id,
                        filename=filename, note=note)  # fmt: skip


@login_required
@require_GET
def run_value(request: HtmxHttpRequest, run_id: str, part: str) -> HttpResponse:
    """A whole value of the run itself: its `parameters` (credentials masked) or `result`."""
    run = viewable_run_or_404(request.user, run_id)
    value: Any
    if part == "parameters":
        value = run.shown_parameters
    elif part == "result":
        value = run.result
    else:
        raise Http404("No such value.")
    filename = f"test-run-{run.short_id}-{part}.json"
    dom_id = "run-params" if part == "parameters" else "run-result"
    label = "Parameters" if part == "parameters" else "Output"  # as the Result card names it
    return _json_answer(request, run, label, value, url=request.path, dom_id=dom_id,
                        filename=filename)  # fmt: skip


def _page_number(text: str) -> int:
    return int(text) if text.isdigit() and len(text) < 7 else 1


@login_required
@require_GET
def loop_iterations(request: HtmxHttpRequest, run_id: str, loop_id: str) -> HttpResponse:
    """One page of a loop's iterations (`?page=N`, `&failed=1` for the failed ones only)."""
    run = viewable_run_or_404(request.user, run_id)
    state = RunState(run, with_json=False)
    loop_row = state.loop_rows().get(loop_id)
    if loop_row is None:
        raise Http404("No such loop in this run.")
    group = state.loop_group(step_view(loop_row, lazy=True), page=None)
    listing = iteration_page(
        run, loop_row, group.summary,
        page=_page_number(request.GET.get("page", "")),
        only_failed=request.GET.get("failed") == "1",
    )  # fmt: skip
    group.page = listing
    group.rows = [step_view(row, lazy=True) for row in listing.rows]
    title = f"{loop_row.label} · items {listing.first_item}–{listing.last_item}"
    return _fragment(request, run, "loop_iterations", {"group": group}, title)


@login_required
@require_GET
def run_log(request: HtmxHttpRequest, run_id: str) -> HttpResponse:
    """The log lines before `?before=<seq>`, up to LOG_TAIL of them, oldest first."""
    run = viewable_run_or_404(request.user, run_id)
    before = _page_number(request.GET.get("before", "")) if request.GET.get("before") else None
    events = run.events.order_by("-seq")
    if before is not None:
        events = events.filter(seq__lt=before)
    page = list(events[: LOG_TAIL + 1])
    shown = page[:LOG_TAIL][::-1]
    earlier = shown[0].seq if len(page) > LOG_TAIL and shown else None
    context = {"events": log_lines(shown), "earlier_before": earlier}
    return _fragment(request, run, "log_page", context, "Log")


@login_required
@require_GET
def run_updates(request: HtmxHttpRequest, run_id: str) -> HttpResponse:
    """What changed after `?after=<seq>`, as the socket would push it (OOB fragments): the
    live view's fallback when its socket cannot connect."""
    run = viewable_run_or_404(request.user, run_id)
    after = request.GET.get("after", "")
    if not after.isdigit() or len(after) > 10:
        return HttpResponse("after must be a seq (0 or more).", status=400)
    view = LiveView(run.pk, int(after), controls=_can_control(request, run))
    frames = view.next_frames(max_events=MAX_UPDATE_EVENTS)
    response = HttpResponse("".join(frames))
    response["X-Live-Last-Seq"] = str(view.after)
    return response
