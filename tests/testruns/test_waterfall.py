"""The timing waterfall: bars on active time (pauses between steps left out) and tick
labels that read differently."""

from __future__ import annotations

import datetime
from typing import Any

from testruns.models import StepRun, StepStatus
from testruns.presenters import waterfall

T0 = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)
CHART_X, CHART_W = 150, 440


def step(node_id: str, start_ms: float, duration_ms: int | None, **fields: Any) -> StepRun:
    started = T0 + datetime.timedelta(milliseconds=start_ms)
    completed = started + datetime.timedelta(milliseconds=duration_ms or 0)
    fields.setdefault("status", StepStatus.SUCCEEDED)
    return StepRun(node_id=node_id, label=node_id, started_at=started, completed_at=completed,
                   duration_ms=duration_ms, **fields)  # fmt: skip


def bars(chart: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Each bar's start and width as fractions of the chart."""
    return {
        r["step"].node_id: ((r["x"] - CHART_X) / CHART_W, r["w"] / CHART_W) for r in chart["rows"]
    }


def test_paused_gaps_between_steps_are_left_off_the_axis() -> None:
    # Step mode: 40 ms of work spread over two minutes of pauses.
    chart = waterfall([step("hook", 0, 10), step("map", 60_000, 10), step("done", 120_000, 20)])
    assert [r["start_ms"] for r in chart["rows"]] == [0, 10, 20]
    assert chart["total_ms"] == 40
    assert chart["idle_ms"] == 119_980
    assert chart["idle_label"] == "2 min 0 s"
    shown = bars(chart)
    assert shown["hook"] == (0, 0.25)
    assert shown["map"] == (0.25, 0.25)
    assert shown["done"] == (0.5, 0.5)


def test_a_step_mode_run_draws_like_the_same_run_in_one_go() -> None:
    auto = waterfall([step("hook", 0, 3), step("map", 3, 5), step("done", 8, 2)])
    stepped = waterfall([step("hook", 0, 3), step("map", 9_000, 5), step("done", 30_000, 2)])
    assert bars(stepped) == bars(auto)
    assert auto["idle_label"] == ""
    assert [t["label"] for t in stepped["ticks"]] == [t["label"] for t in auto["ticks"]]


def test_overlapping_steps_keep_their_overlap() -> None:
    chart = waterfall([step("a", 0, 100), step("b", 50, 100), step("c", 1_150, 50)])
    assert [r["start_ms"] for r in chart["rows"]] == [0, 50, 150]
    assert chart["idle_ms"] == 1_000


def test_rows_keep_the_run_order_while_starts_follow_time() -> None:
    # A reused step of a re-run can carry an older timestamp than a step listed before it.
    chart = waterfall([step("late", 5_000, 10), step("early", 0, 10)])
    assert [r["step"].node_id for r in chart["rows"]] == ["late", "early"]
    assert bars(chart)["early"][0] == 0
    assert bars(chart)["late"][0] == 0.5


def test_ticks_of_a_one_millisecond_run_are_distinct() -> None:
    chart = waterfall([step("hook", 0, 0), step("map", 0.2, 1)])
    labels = [t["label"] for t in chart["ticks"]]
    assert labels == ["0 ms", "0.5 ms", "1.0 ms"]


def test_ticks_are_distinct_and_round_at_every_scale() -> None:
    for total in (1, 2, 3, 7, 10, 37, 99, 250, 999, 1_234, 4_000, 59_000, 600_000):
        chart = waterfall([step("only", 0, total)])
        labels = [t["label"] for t in chart["ticks"]]
        assert len(labels) == len(set(labels)), (total, labels)
        assert 3 <= len(labels) <= 5, (total, labels)
        # The axis ends at or after the run, so the last bar ends inside the chart.
        last = chart["rows"][-1]
        assert last["x"] + last["w"] <= CHART_X + CHART_W + 0.01, total


def test_seconds_on_a_long_run() -> None:
    chart = waterfall([step("wait", 0, 4_000)])
    assert [t["label"] for t in chart["ticks"]] == ["0 s", "1 s", "2 s", "3 s", "4 s"]
    assert chart["total_label"] == "4.0 s"


def test_a_running_step_counts_up_to_now_and_pending_ones_are_not_drawn() -> None:
    running = StepRun(node_id="slow", label="slow", status=StepStatus.RUNNING,
                      started_at=datetime.datetime.now(datetime.UTC)
                      - datetime.timedelta(milliseconds=200))  # fmt: skip
    pending = StepRun(node_id="next", label="next", status=StepStatus.PENDING)
    chart = waterfall([running, pending])
    assert [r["step"].node_id for r in chart["rows"]] == ["slow"]
    assert chart["rows"][0]["duration_ms"] >= 200


def test_a_zero_millisecond_step_is_still_visible() -> None:
    chart = waterfall([step("hook", 0, 0), step("map", 5, 40)])
    assert chart["rows"][0]["w"] >= 3


def test_loop_items_are_not_rows() -> None:
    chart = waterfall([step("loop", 0, 10), step("body", 1, 2, iteration=0, parent_node_id="loop")])
    assert [r["step"].node_id for r in chart["rows"]] == ["loop"]


def test_no_steps_no_chart() -> None:
    assert waterfall([])["rows"] == []


def test_each_bar_says_its_duration() -> None:
    chart = waterfall([step("hook", 0, 0), step("map", 5, 40), step("wait", 50, 2_500)])
    assert [r["duration_label"] for r in chart["rows"]] == ["0 ms", "40 ms", "2.5 s"]
    for row in chart["rows"]:
        assert row["end_x"] > row["x"] + row["w"]
