"""Compare as a diff: only what changed is listed (old → new, with − and + markers), what
stayed the same is counted and folded, volatile keys are listed as ignored; and the
history's error column, re-run and step-test markers and Newer / Older pages."""

from __future__ import annotations

import html
import re
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rq import Queue

from testruns import compare
from testruns.compare import MAX_ENTRIES, diff_values, line_diff
from testruns.models import RunStatus, StepStatus, TestRun
from tests.factories import Team, finished, make_run

pytestmark = pytest.mark.django_db


def compare_page(team: Team, older: TestRun, newer: TestRun, who: str = "viewer") -> str:
    query = urlencode([("run", str(older.id)), ("run", str(newer.id))])
    response = team.client(who).get(f"/test-runs/compare/?{query}")
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def squeeze(text: str) -> str:
    """The page's text without tags, blanks collapsed: what a reader sees in a row."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))


def step_block(page: str, key: str) -> str:
    """The <tbody> of one step: its row and its diff."""
    start = page.index(f'data-step="{key}"')
    return page[start : page.index("</tbody>", start)]


@pytest.fixture
def pair(team: Team, run_queue: Queue) -> tuple[TestRun, TestRun]:
    return (
        finished(make_run(team.workflow, team.owner, payload={"score": 90})),
        finished(make_run(team.workflow, team.owner, payload={"score": 90})),
    )


# --- the diff itself ----------------------------------------------------------------------


def test_only_changed_keys_are_listed_and_the_rest_is_counted() -> None:
    old = {"lead": {"name": "ann", "score": 90}, "tags": ["a", "b"], "ok": True, "n": 1}
    new = {"lead": {"name": "bob", "score": 90}, "tags": ["a", "b"], "ok": True, "extra": 2}

    diff = diff_values(old, new)

    assert [(c.path, c.kind, c.old, c.new) for c in diff.changes] == [
        ("lead.name", "changed", '"ann"', '"bob"'),
        ("n", "removed", "1", ""),
        ("extra", "added", "", "2"),
    ]
    assert diff.changed_total == 3
    assert sorted(same.path for same in diff.unchanged) == ["lead.score", "ok", "tags"]
    assert diff.unchanged_total == 3


def test_an_inserted_list_item_is_one_addition_not_a_change_of_every_later_item() -> None:
    old = [{"id": 1}, {"id": 2}, {"id": 3}]
    new = [{"id": 1}, {"id": 9}, {"id": 2}, {"id": 3}]

    diff = diff_values(old, new)

    assert [(c.path, c.kind, c.new) for c in diff.changes] == [("[1]", "added", '{"id": 9}')]
    assert diff.unchanged_total == 3


def test_json_types_are_not_confused() -> None:
    diff = diff_values({"a": 1, "b": 1}, {"a": True, "b": 1.0})
    assert [(c.path, c.old, c.new) for c in diff.changes] == [("a", "1", "true"), ("b", "1", "1.0")]


def test_volatile_keys_are_ignored_but_listed() -> None:
    old = {"headers": {"Date": "Mon", "X-MeshHook-Test-Run": "r1"}, "duration_ms": 3, "v": 1}
    new = {"headers": {"Date": "Tue", "X-MeshHook-Test-Run": "r2"}, "duration_ms": 9, "v": 1}

    diff = diff_values(old, new)

    assert not diff.changed
    assert [c.path for c in diff.ignored] == [
        "headers.Date",
        "headers.X-MeshHook-Test-Run",
        "duration_ms",
    ]


def test_text_with_line_breaks_is_compared_line_by_line() -> None:
    old = "\n".join(f"line {n}" for n in range(20))
    new = old.replace("line 10", "line ten")

    lines = line_diff(old, new)

    assert [(line.op, line.text) for line in lines] == [
        ("…", "8 unchanged lines"),
        (" ", "line 8"),
        (" ", "line 9"),
        ("-", "line 10"),
        ("+", "line ten"),
        (" ", "line 11"),
        (" ", "line 12"),
        ("…", "7 unchanged lines"),
    ]


def test_a_huge_difference_is_listed_up_to_a_cap_and_counted() -> None:
    old, new = [2 * n for n in range(5000)], [2 * n + 1 for n in range(5000)]
    diff = diff_values({"items": old}, {"items": new})
    assert len(diff.changes) == MAX_ENTRIES
    assert diff.changes_left_off == diff.changed_total - MAX_ENTRIES > 0


# --- the page ------------------------------------------------------------------------------


def test_a_changed_output_shows_old_and_new_inline_with_markers(
    team: Team, pair: tuple[TestRun, TestRun]
) -> None:
    older, newer = pair
    common = {f"field_{n}": n for n in range(12)}
    older.steps.filter(node_id="map").update(output={**common, "lead": "ann"})
    newer.steps.filter(node_id="map").update(output={**common, "lead": "bob"})

    page = compare_page(team, older, newer)

    block = step_block(page, "map")
    text = squeeze(block)
    assert 'class="changed"' in page[page.index('data-step="map"') - 30 :][:60]
    assert "output differs" in text
    assert '− "ann" → + "bob"' in text
    assert 'class="d-old"' in block
    assert 'class="d-new"' in block
    assert "12 unchanged keys" in text
    # Unchanged steps are folded away, not drawn as differences.
    assert 'tbody class="step-pair same"' in page
    assert "Show 4 unchanged steps" in squeeze(page)
    assert "1 step and 0 parameters differ" in squeeze(page)


def test_status_duration_and_error_differences_of_a_step(
    team: Team, pair: tuple[TestRun, TestRun]
) -> None:
    older, newer = pair
    older.steps.filter(node_id="map").update(duration_ms=12)
    newer.steps.filter(node_id="map").update(
        status=StepStatus.FAILED, error="HTTP 502 from crm.example\nretry 1 of 3", duration_ms=950
    )

    text = squeeze(step_block(compare_page(team, older, newer), "map"))

    assert "succeeded → failed" in text
    assert "12 ms → 950 ms" in text
    assert "+938 ms" in text
    assert "error differs" in text
    assert "+ HTTP 502 from crm.example" in text


def test_a_step_only_one_run_has(team: Team, pair: tuple[TestRun, TestRun]) -> None:
    older, newer = pair
    newer.steps.filter(node_id="notify").delete()

    text = squeeze(step_block(compare_page(team, older, newer), "notify"))

    assert "only in A" in text


def test_past_a_cap_steps_are_counted_not_drawn(
    team: Team, pair: tuple[TestRun, TestRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    older, newer = pair
    monkeypatch.setattr(compare, "MAX_UNCHANGED_STEPS", 2)
    newer.steps.filter(node_id="map").update(output={"node": "changed"})

    page = compare_page(team, older, newer)

    assert re.findall(r'data-step="([^"]+)"', page) == ["hook", "map", "hot"]
    assert "2 more steps (loop iterations) are counted above but not drawn" in squeeze(page)
    assert "1 step and 0 parameters differ" in squeeze(page)


def test_volatile_differences_are_shown_as_ignored(
    team: Team, pair: tuple[TestRun, TestRun]
) -> None:
    older, newer = pair
    older.steps.filter(node_id="map").update(output={"date": "Mon", "v": 1})
    newer.steps.filter(node_id="map").update(output={"date": "Tue", "v": 1})

    page = compare_page(team, older, newer)

    text = squeeze(step_block(page, "map"))
    assert "1 ignored difference" in text
    assert '− "Mon" → + "Tue"' in text
    assert "0 steps and 0 parameters differ" in squeeze(page)


def test_a_parameter_difference_lists_only_the_changed_keys(team: Team, run_queue: Queue) -> None:
    older = finished(make_run(team.workflow, team.owner, payload={"score": 90, "name": "A"}))
    newer = finished(make_run(team.workflow, team.owner, payload={"score": 10, "name": "A"}))

    page = compare_page(team, older, newer, who="editor")

    start = page.index('data-parameter="payload"')
    text = squeeze(page[start : page.index("</tbody>", start)])
    assert "score − 90 → + 10" in text
    assert "1 unchanged key" in text
    assert "Show 6 unchanged parameters" in squeeze(page)


# --- history --------------------------------------------------------------------------------

RUN_ROW = re.compile(r'id="run-row-([0-9a-f-]{36})"')


def row_of(body: str, run: TestRun) -> str:
    start = body.index(f'id="run-row-{run.id}"')
    return body[start : body.index("</tr>", start)]


def test_history_shows_the_first_line_of_the_error_and_the_whole_in_its_title(
    team: Team, run_queue: Queue
) -> None:
    run = finished(make_run(team.workflow, team.owner), RunStatus.FAILED)
    error = "Step map failed: HTTP 502 from crm.example\nTraceback line 1\nline 2"
    TestRun.objects.filter(pk=run.pk).update(error=error)

    body = html.unescape(team.client("viewer").get("/test-runs/").content.decode())

    row = row_of(body, run)
    assert ">Step map failed: HTTP 502 from crm.example</span>" in row
    assert f'title="{error}"' in row


def test_history_marks_reruns_and_single_step_tests(team: Team, run_queue: Queue) -> None:
    source = finished(make_run(team.workflow, team.owner))
    rerun = make_run(team.workflow, team.owner)
    single = make_run(team.workflow, team.owner)
    TestRun.objects.filter(pk=rerun.pk).update(source_run=source, from_step="map")
    TestRun.objects.filter(pk=single.pk).update(only_node="notify")

    body = html.unescape(team.client("viewer").get("/test-runs/").content.decode())

    rerun_row = row_of(body, rerun)
    assert "↻ re-run from map" in rerun_row
    assert f'href="/test-runs/{source.id}/"' in rerun_row
    assert "step test: notify" in row_of(body, single)
    assert "re-run" not in row_of(body, source)
    assert "step test" not in row_of(body, source)


def link(body: str, label: str) -> str | None:
    match = re.search(r'href="([^"]*)"[^>]*>' + re.escape(label), body)
    return html.unescape(match.group(1)) if match else None


def test_newer_and_older_links_walk_the_pages_both_ways_with_the_filters(
    team: Team, run_queue: Queue
) -> None:
    runs = [make_run(team.workflow, team.owner) for _ in range(60)]
    TestRun.objects.filter(pk__in=[run.pk for run in runs[:5]]).update(status="failed")
    client = team.client("viewer")
    newest_first = [
        str(pk)
        for pk in TestRun.objects.exclude(status="failed")
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)
    ]

    def get(url: str) -> tuple[list[str], str]:
        response = client.get(url if url.startswith("/") else f"/test-runs/{url}")
        assert response.status_code == 200
        body = response.content.decode()
        return RUN_ROW.findall(body), body

    first, body = get("/test-runs/?status=queued")
    assert link(body, "← Newer runs") is None
    second, body = get(link(body, "Older runs") or "")
    third, body = get(link(body, "Older runs") or "")
    assert first + second + third == newest_first
    assert link(body, "Older runs") is None
    back, body = get(link(body, "← Newer runs") or "")
    assert "status=queued" in (link(body, "← Newer runs") or "")
    assert back == second
    top, body = get(link(body, "← Newer runs") or "")
    assert top == first
    assert link(body, "← Newer runs") is None


def test_a_garbage_newer_cursor_shows_the_first_page(team: Team, run_queue: Queue) -> None:
    run = make_run(team.workflow, team.owner)
    response = team.client("owner").get("/test-runs/", {"before": "garbage"})
    assert RUN_ROW.findall(response.content.decode()) == [str(run.id)]


def test_history_costs_the_same_queries_for_3_and_25_rows_with_markers(
    team: Team, run_queue: Queue
) -> None:
    def queries() -> int:
        client = team.client("viewer")
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/test-runs/").status_code == 200
        return len(captured)

    source = make_run(team.workflow, team.owner)
    for _ in range(2):
        TestRun.objects.filter(pk=make_run(team.workflow, team.owner).pk).update(
            source_run=source, from_step="map", error="boom", only_node="map"
        )
    few = queries()
    for _ in range(30):
        TestRun.objects.filter(pk=make_run(team.workflow, team.owner).pk).update(
            source_run=source, from_step="map", error="boom\ntwo", only_node="map"
        )
    assert queries() == few


def test_a_filter_value_the_selects_do_not_offer_is_kept(team: Team, run_queue: Queue) -> None:
    make_run(team.workflow, team.owner)
    body = team.client("owner").get(f"/test-runs/?triggered_by={team.owner.username}")
    text = body.content.decode()
    assert f'<option value="{team.owner.username}" selected>' in text
