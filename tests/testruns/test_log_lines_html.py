"""The log lines' markup (one definition for the page, its log pages and the socket): every
value escaped, the loop item shown, and the same line whichever way it is drawn."""

from __future__ import annotations

from datetime import UTC, datetime

from testruns.models import RunEvent
from testruns.presenters import log_lines
from testruns.templatetags.log_tags import log_lines_html


def test_a_line_is_drawn_with_every_value_escaped() -> None:
    event = RunEvent(
        seq=7, ts=datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=UTC), type="log",
        node_id="map", iteration=3, level="warning", message='<b>"5 > 3" & more</b>',
    )  # fmt: skip
    html = str(log_lines_html(log_lines([event])))
    assert html == (
        '<div class="log-line lvl-warning t-log" data-seq="7" data-level="warning" '
        'data-node="map" data-type="log"><span class="ts">12:00:00.123</span>'
        '<span class="lvl">warning</span><span class="node">map[3]</span>'
        '<span class="msg">&lt;b&gt;&quot;5 &gt; 3&quot; &amp; more&lt;/b&gt;</span></div>'
    )


def test_a_line_without_an_item_has_no_brackets() -> None:
    event = RunEvent(
        seq=1, ts=datetime(2026, 12, 1, tzinfo=UTC), type="run_started", node_id="",
        iteration=None, level="info", message="Test run started.",
    )  # fmt: skip
    html = str(log_lines_html(log_lines([event])))
    assert '<span class="node"></span>' in html
    assert "[" not in html


def test_words_that_are_not_plain_are_escaped_too() -> None:
    event = RunEvent(
        seq=2, ts=datetime(2026, 12, 1, tzinfo=UTC), type='log"><script>', node_id="a<b",
        iteration=None, level="info", message="x",
    )  # fmt: skip
    html = str(log_lines_html(log_lines([event])))
    assert "<script>" not in html
    assert 'data-node="a&lt;b"' in html
