"""The run page's Result card (how a finished run ended, its final output, the failures it
went on after), the "tolerated" step badge, HTTP bodies shown parsed, and the card's live
push when the run finishes."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import pytest
from rq import Queue

from meshhook.models import Workflow
from testruns.live import LiveView
from testruns.models import StepRun, TestRun
from tests.factories import MEMBERS, Team, definition, make_run, make_workflow
from tests.pages.helpers import text_of

pytestmark = pytest.mark.django_db(transaction=True)  # jobs are enqueued on commit

PAYLOAD = {"email": "ada@example.com", "score": 42}


def tolerant_workflow(team: Team) -> Workflow:
    """hook → map → enrich (fails: a template yields null; `on_error: continue`) → done."""
    document = definition(
        slug="tolerant",
        nodes=[
            {"id": "hook", "type": "webhook_trigger"},
            {"id": "map", "type": "transform", "config": {"expression": "body"}},
            {"id": "enrich", "type": "transform", "label": "Enrich from CRM",
             "on_error": "continue", "input": "steps.map.output",
             "config": {"template": {"company": "{{ crm.company }}"}}},
            {"id": "done", "type": "terminate", "label": "Lead processed",
             "config": {"status": "success", "reason": "processed {{ steps.map.output.email }}",
                        "output": {"email": "{{ steps.map.output.email }}",
                                   "content-type": "lead"}}},
        ],
        edges=[
            {"source": "hook", "target": "map"},
            {"source": "map", "target": "enrich"},
            {"source": "enrich", "target": "done"},
        ],
    )  # fmt: skip
    return make_workflow(team.project, document, team.owner)


def card_of(body: str) -> str:
    match = re.search(
        r'<section class="card result-card[^"]*" id="result-card".*?</section>', body, re.S
    )
    assert match, "no Result card on the page"
    return html.unescape(match.group(0))


def badge_of(body: str, node_id: str) -> str:
    row = re.search(rf'<details class="step[^"]*" id="step-{node_id}".*?</summary>', body, re.S)
    assert row, f"no row for {node_id}"
    badge = re.search(r'<span class="badge st-[a-z]+"[^>]*>([a-z]+)</span>', row.group(0))
    assert badge
    return badge.group(1)


@pytest.mark.parametrize("who", MEMBERS)
def test_a_passed_run_shows_its_result_and_the_failure_it_tolerated(
    team: Team, who: str, drain: Callable[[], int]
) -> None:
    run = make_run(tolerant_workflow(team), team.owner, payload=PAYLOAD)
    drain()
    run.refresh_from_db()
    assert run.status == "passed"

    body = text_of(team.client(who).get(f"/test-runs/{run.id}/"))
    card = card_of(body)
    assert "rc-passed" in card
    assert "Test run passed: processed ada@example.com" in card
    assert "Ended by" in card
    assert "Lead processed" in card
    assert 'id="result-tolerated"' in card
    assert "Enrich from CRM" in card
    # The final output, as JSON the viewer turns into a tree (paths like "content-type").
    output = re.search(
        r'<pre class="json" id="run-result" data-json-tree[^>]*>(.*?)</pre>', card, re.S
    )
    assert output
    assert '"email": "ada@example.com"' in output.group(1)
    assert '"content-type": "lead"' in output.group(1)

    assert badge_of(body, "enrich") == "tolerated"
    assert badge_of(body, "map") == "succeeded"
    assert StepRun.objects.get(run=run, node_id="enrich").status == "failed"


def test_a_failed_step_that_failed_the_run_is_not_tolerated(
    team: Team, drain: Callable[[], int]
) -> None:
    workflow = tolerant_workflow(team)
    document = workflow.current_version().definition
    for node in document["nodes"]:
        node.pop("on_error", None)
    workflow = make_workflow(team.project, document, team.owner)
    run = make_run(workflow, team.owner, payload=PAYLOAD)
    drain()
    body = text_of(team.client("viewer").get(f"/test-runs/{run.id}/"))
    card = card_of(body)
    assert "rc-failed" in card
    assert "Stopped at" in card
    assert "Enrich from CRM" in card
    assert "result-tolerated" not in card
    assert "This run has no final output." in card
    assert badge_of(body, "enrich") == "failed"


def test_an_active_run_has_only_the_cards_placeholder(team: Team, run_queue: Queue) -> None:
    run = make_run(team.workflow, team.owner, payload=PAYLOAD)
    body = text_of(team.client("owner").get(f"/test-runs/{run.id}/"))
    card = card_of(body)
    assert "hidden" in card.split(">")[0]
    assert "<h2>Result</h2>" not in card


def test_the_card_is_pushed_live_when_the_run_finishes(
    team: Team, drain: Callable[[], int]
) -> None:
    run = make_run(tolerant_workflow(team), team.owner, payload=PAYLOAD)
    view = LiveView(run.pk, 0, controls=True)
    assert 'id="result-card"' not in "".join(view.next_frames())  # queued: nothing to show

    drain()
    pushed = html.unescape("".join(view.next_frames()))
    card = re.search(
        r'<section class="card result-card[^"]*" id="result-card" hx-swap-oob="true">.*?</section>',
        pushed,
        re.S,
    )
    assert card, "the finish did not push the Result card"
    assert "Test run passed: processed ada@example.com" in card.group(0)
    assert "Enrich from CRM" in card.group(0)
    assert re.search(r'id="step-enrich"[^>]*>.*?st-tolerated', pushed, re.S)
    # Later pushes of the same finished run do not send it again.
    TestRun.objects.filter(pk=run.pk).update(last_seq=run.events.count())
    assert 'id="result-card"' not in "".join(view.next_frames())


def test_http_bodies_that_are_json_text_are_shown_parsed(
    team: Team, drain: Callable[[], int]
) -> None:
    run = make_run(team.workflow, team.owner, payload=PAYLOAD)
    drain()
    step = StepRun.objects.get(run=run, node_id="map")
    exchange = {
        "attempt": 1, "duration_ms": 12,
        "request": {"method": "POST", "url": "https://api.example.com/items",
                    "headers": {"content-type": "application/json"},
                    "body": '{"items": [{"name": "widget"}]}'},
        "response": {"status": 502, "headers": {}, "body": "<html>Bad gateway</html>"},
    }  # fmt: skip
    StepRun.objects.filter(pk=step.pk).update(http=[exchange])

    client = team.client("viewer", htmx=True)
    body = text_of(client.get(f"/test-runs/{run.id}/steps/{step.pk}/"))
    request = re.search(r'id="req-[0-9]+-1-block"><h4>Request(.*?)</pre>', body, re.S)
    assert request
    assert "body parsed from JSON text" in request.group(1)
    assert '"items": [' in request.group(1)
    assert '\\"items\\"' not in request.group(1)
    response = re.search(r'id="resp-[0-9]+-1-block"><h4>Response(.*?)</pre>', body, re.S)
    assert response
    assert "parsed" not in response.group(1)
    assert '"body": "<html>Bad gateway</html>"' in response.group(1)
    assert "POST https://api.example.com/items" in body

    # "show all" of the request answers with the same parsed body.
    whole = text_of(client.get(f"/test-runs/{run.id}/steps/{step.pk}/request-1/"))
    assert '"name": "widget"' in whole
    assert "body parsed from JSON text" in whole
    assert team.client("outsider").get(f"/test-runs/{run.id}/steps/{step.pk}/").status_code == 404


@pytest.mark.parametrize("who", [*MEMBERS, "outsider"])
def test_the_whole_output_for_members_only(team: Team, who: str, drain: Callable[[], int]) -> None:
    run = make_run(tolerant_workflow(team), team.owner, payload=PAYLOAD)
    drain()
    response = team.client(who, htmx=True).get(f"/test-runs/{run.id}/values/result/")
    if who == "outsider":
        assert response.status_code == 404
        return
    assert response.status_code == 200
    body = text_of(response)
    assert "<h4>Output" in body
    assert '"email": "ada@example.com"' in body


def test_a_big_value_is_a_preview_until_shown_whole(team: Team, drain: Callable[[], int]) -> None:
    """Over the inline size a value is a preview (not JSON, so no tree), its whole self loaded
    on demand: the tree is built from that answer."""
    run = make_run(team.workflow, team.owner, payload=PAYLOAD)
    drain()
    step = StepRun.objects.get(run=run, node_id="map")
    big = {"items": [{"name": f"item {n}", "text": "x" * 200} for n in range(200)]}
    StepRun.objects.filter(pk=step.pk).update(output=big)
    client = team.client("viewer", htmx=True)
    body = text_of(client.get(f"/test-runs/{run.id}/steps/{step.pk}/"))
    preview = re.search(rf'<pre class="json" id="out-{step.pk}"([^>]*)>', body)
    assert preview
    assert "data-json-tree" not in preview.group(1)
    assert f"/test-runs/{run.id}/steps/{step.pk}/output/" in body
    whole = text_of(client.get(f"/test-runs/{run.id}/steps/{step.pk}/output/"))
    assert re.search(rf'<pre class="json" id="out-{step.pk}" data-json-tree', whole)
    assert '"name": "item 199"' in whole


def test_a_step_an_error_interrupted_is_not_tolerated(team: Team, drain: Callable[[], int]) -> None:
    """The step that was running when the run ended in error (here: timed out) did not fail by
    itself, so `on_error: continue` did not let the run go on after it."""
    run = make_run(tolerant_workflow(team), team.owner, payload=PAYLOAD)
    drain()
    message = "The run timed out after 300,000 ms."
    TestRun.objects.filter(pk=run.pk).update(status="error", error=message)
    StepRun.objects.filter(run=run, node_id="enrich").update(error=message)
    body = text_of(team.client("viewer").get(f"/test-runs/{run.id}/"))
    assert badge_of(body, "enrich") == "failed"
    card = card_of(body)
    assert "rc-error" in card
    assert "result-tolerated" not in card
