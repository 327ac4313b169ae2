"""The bench's own checks: the frame parser and the live-view contract it enforces."""

from __future__ import annotations

from typing import Any

import pytest

from bench.client import LiveView, check_log
from bench.stats import BenchError
from bench.wsclient import frame_seqs, frame_types

FRAME = (
    '<div id="run-log" hx-swap-oob="beforeend"><div class="log-chunk">'
    '<div class="log-line lvl-info t-step_started" data-seq="7" data-level="info" '
    'data-node="t1" data-type="step_started"><span class="msg">go</span></div>'
    '<div class="log-line" data-type="run_finished" data-seq="8"></div></div></div>'
    '<section id="run-header" data-last-seq="8" hx-swap-oob="true"></section>'
)


def test_frame_parser_reads_seqs_and_types_of_log_lines_only() -> None:
    assert frame_seqs(FRAME) == [7, 8]
    assert frame_types(FRAME) == {7: "step_started", 8: "run_finished"}
    assert frame_seqs('<section id="run-graph"></section>') == []


def view_with(seqs: list[int]) -> LiveView:
    view = LiveView(ws=None, run_id="r")  # type: ignore[arg-type]  # never sends
    view.seqs = seqs
    return view


def stored(count: int) -> list[dict[str, Any]]:
    return [{"seq": seq} for seq in range(1, count + 1)]


def test_check_log_accepts_the_stored_log_exactly() -> None:
    check_log(view_with([1, 2, 3]), stored(3))


@pytest.mark.parametrize(
    ("seqs", "problem"),
    [([1, 2, 2, 3], "twice"), ([1, 3, 2], "out of order"), ([1, 3], "showed 2 of 3")],
)
def test_check_log_refuses_doubled_reordered_or_lost_events(seqs: list[int], problem: str) -> None:
    with pytest.raises(BenchError, match=problem):
        check_log(view_with(seqs), stored(3))
