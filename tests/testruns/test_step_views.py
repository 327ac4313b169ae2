"""The run page's on-demand pieces (testruns.step_views): a step's details, a whole value or
its download, a page of loop items, earlier log lines, and the polling fallback's updates.
Members see them, outsiders get 404, and a plain request (no htmx) still gets something
usable behind every `hx-get`'s real href."""

from __future__ import annotations

import json
import re

import pytest
from rq import Queue

from testruns.models import StepRun, TestRun
from testruns.presenters import INLINE_JSON_BYTES, LOG_TAIL
from tests.factories import MEMBERS, Team, make_workflow
from tests.testruns.big_runs import big_payload, finished_loop_run, loop_definition

pytestmark = pytest.mark.django_db


@pytest.fixture
def big(team: Team, run_queue: Queue) -> TestRun:
    """A finished run whose trigger output is a 500 KB payload (written as the worker would)."""
    run = finished_loop_run(
        make_workflow(team.project, loop_definition(), team.owner), team.owner, count=120,
        events=1_500,
    )  # fmt: skip
    run.steps.filter(node_id="hook").update(output={"body": big_payload(500_000)})
    return run


def step(run: TestRun, node_id: str, iteration: int | None = None) -> StepRun:
    return run.steps.get(node_id=node_id, iteration=iteration)


def urls(run: TestRun) -> list[str]:
    hook, item = step(run, "hook"), step(run, "b0", 7)
    return [
        f"/test-runs/{run.id}/steps/{hook.pk}/",
        f"/test-runs/{run.id}/steps/{hook.pk}/output/",
        f"/test-runs/{run.id}/steps/{item.pk}/input/",
        f"/test-runs/{run.id}/values/parameters/",
        f"/test-runs/{run.id}/loops/each/",
        f"/test-runs/{run.id}/log/",
        f"/test-runs/{run.id}/updates/?after=0",
    ]


@pytest.mark.parametrize("who", MEMBERS)
def test_members_get_every_piece(team: Team, big: TestRun, who: str) -> None:
    for url in urls(big):
        for client in (team.client(who), team.client(who, htmx=True)):
            assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("who", ["outsider", "anonymous"])
def test_outsiders_get_404_and_anonymous_users_the_login(
    team: Team, big: TestRun, who: str
) -> None:
    for url in urls(big):
        response = team.client(who).get(url)
        assert response.status_code == (404 if who == "outsider" else 302), url


def test_a_step_of_another_run_and_unknown_parts_are_404(
    team: Team, big: TestRun, run_queue: Queue
) -> None:
    other = finished_loop_run(
        make_workflow(team.project, loop_definition("other-loop"), team.owner), team.owner,
        count=1, events=1,
    )  # fmt: skip
    client = team.client("owner")
    base = f"/test-runs/{big.id}"
    hook = step(big, "hook").pk
    assert client.get(f"{base}/steps/{step(other, 'hook').pk}/").status_code == 404
    assert client.get(f"{base}/steps/{hook}/secret/").status_code == 404
    assert client.get(f"{base}/steps/{hook}/request-1/").status_code == 404  # no HTTP call
    assert client.get(f"{base}/values/result2/").status_code == 404
    assert client.get(f"{base}/loops/nope/").status_code == 404
    assert client.get(f"{base}/loops/hook/").status_code == 404  # not a loop
    assert client.get(f"{base}/updates/?after=x").status_code == 400


def test_the_page_shows_a_large_value_as_a_preview_with_its_size(team: Team, big: TestRun) -> None:
    page = team.client("owner").get(f"/test-runs/{big.id}/").content.decode()
    hook = step(big, "hook")
    assert len(page) < 400_000  # the 500 KB payload is not in it (twice: output, parameters)
    last = big_payload(500_000)["rows"][-1]["id"]
    assert f"&quot;id&quot;: {last}" not in page
    url = f"/test-runs/{big.id}/steps/{hook.pk}/output/"
    assert f'href="{url}" hx-get="{url}"' in page  # "show all" keeps a real href
    assert f'href="{url}?download=1"' in page
    assert re.search(r'class="size">\d+(\.\d)?\xa0KB</span> — ', page)


def test_show_all_returns_the_whole_value_in_the_same_block(team: Team, big: TestRun) -> None:
    hook = step(big, "hook")
    url = f"/test-runs/{big.id}/steps/{hook.pk}/output/"
    fragment = team.client("viewer", htmx=True).get(url).content.decode()
    assert fragment.startswith(f'<div class="json-block" id="out-{hook.pk}-block">')
    last = big_payload(500_000)["rows"][-1]["id"]
    assert f"&quot;id&quot;: {last}" in fragment
    assert "show all" not in fragment


def test_download_is_the_json_as_an_attachment(team: Team, big: TestRun) -> None:
    hook = step(big, "hook")
    response = team.client("viewer").get(f"/test-runs/{big.id}/steps/{hook.pk}/output/?download=1")
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == (
        f'attachment; filename="test-run-{big.short_id}-hook-output.json"'
    )
    assert json.loads(response.content) == hook.output
    plain = team.client("viewer").get(f"/test-runs/{big.id}/steps/{hook.pk}/output/")
    assert plain["Content-Type"] == "application/json"
    assert "Content-Disposition" not in plain
    assert json.loads(plain.content) == hook.output


def test_parameters_download_masks_credentials(team: Team, big: TestRun) -> None:
    TestRun.objects.filter(pk=big.pk).update(headers={"Authorization": "Bearer top-secret"})
    response = team.client("owner").get(f"/test-runs/{big.id}/values/parameters/?download=1")
    assert "top-secret" not in response.content.decode()
    assert json.loads(response.content)["payload"] == big.payload


def test_an_opened_item_loads_its_input_and_output(team: Team, big: TestRun) -> None:
    item = step(big, "b1", 7)
    body = team.client("viewer", htmx=True).get(f"/test-runs/{big.id}/steps/{item.pk}/")
    html = body.content.decode()
    assert html.startswith('<div class="step-body">')
    assert "&quot;step&quot;: 1" in html
    assert "Re-run from here" not in html  # no actions on a loop item
    page = team.client("viewer").get(f"/test-runs/{big.id}/steps/{item.pk}/").content.decode()
    assert "<html" in page
    assert "b1 · item 7" in page


def test_items_are_paged_and_the_failed_ones_can_be_listed_alone(team: Team, big: TestRun) -> None:
    StepRun.objects.filter(run=big, node_id="b1", iteration__in=[3, 77]).update(status="failed")
    client = team.client("viewer", htmx=True)
    first = client.get(f"/test-runs/{big.id}/loops/each/").content.decode()
    assert first.count('class="step s-') == 100  # 50 items × 2 body steps
    assert 'id="step-b0-0"' in first
    assert 'id="step-b1-49"' in first
    assert "Items 1–50 of 120" in first
    assert f'href="/test-runs/{big.id}/loops/each/?page=2"' in first
    third = client.get(f"/test-runs/{big.id}/loops/each/?page=3").content.decode()
    assert "Items 101–120 of 120" in third
    assert 'id="step-b1-119"' in third
    assert "Next ›" not in third
    failed = client.get(f"/test-runs/{big.id}/loops/each/?failed=1").content.decode()
    assert [int(n) for n in re.findall(r'data-iteration="(\d+)"', failed)] == [3, 3, 77, 77]
    assert "Items 1–2 of 2 failed" in failed
    for nonsense in ("?page=0", "?page=-4", "?page=abc", "?page=999999999"):
        assert client.get(f"/test-runs/{big.id}/loops/each/{nonsense}").status_code == 200


def test_earlier_log_lines_load_before_the_first_one_shown(team: Team, big: TestRun) -> None:
    page = team.client("owner").get(f"/test-runs/{big.id}/").content.decode()
    seqs = [int(n) for n in re.findall(r'class="log-line[^"]*" data-seq="(\d+)"', page)]
    assert len(seqs) == LOG_TAIL
    assert seqs[-1] == big.last_seq
    client = team.client("owner", htmx=True)
    before = re.search(r'hx-get="[^"]*/log/\?before=(\d+)"', page)
    while before is not None:  # "Show earlier lines" until there are none
        html = client.get(f"/test-runs/{big.id}/log/?before={before.group(1)}").content.decode()
        older = [int(n) for n in re.findall(r'data-seq="(\d+)"', html)]
        assert older == list(range(older[0], seqs[0]))
        assert len(older) <= LOG_TAIL
        seqs = older + seqs
        before = re.search(r'hx-get="[^"]*/log/\?before=(\d+)"', html)
    assert seqs == list(range(1, big.last_seq + 1))


def test_updates_are_what_the_socket_would_push(team: Team, big: TestRun) -> None:
    response = team.client("viewer", htmx=True).get(f"/test-runs/{big.id}/updates/?after=1490")
    html = response.content.decode()
    assert response["X-Live-Last-Seq"] == str(big.last_seq)
    assert html.startswith('<div id="run-log" hx-swap-oob="beforeend">')
    seqs = [int(n) for n in re.findall(r'data-seq="(\d+)"', html)]
    assert seqs == list(range(1491, big.last_seq + 1))
    assert 'id="run-header" data-run-status="passed" hx-swap-oob="true"' in html
    assert 'id="run-socket"' in html  # the run is over: the page's live view stops
    nothing = team.client("viewer", htmx=True).get(
        f"/test-runs/{big.id}/updates/?after={big.last_seq}"
    )
    assert nothing.content == b""


def test_inline_threshold_is_what_the_preview_says(team: Team, big: TestRun) -> None:
    hook = step(big, "hook")
    hook.output = {"small": "x" * (INLINE_JSON_BYTES // 2)}
    hook.save()
    page = team.client("owner").get(f"/test-runs/{big.id}/").content.decode()
    assert f'id="out-{hook.pk}"' in page
    assert f"/steps/{hook.pk}/output/?download=1" not in page
    assert page.count("x" * 100) >= 1
