"""The compare page (/test-runs/compare/?run=<id>&run=<id>): members of the runs' project see
both runs side by side, anyone else gets 404; without two runs it says so (400); timings and
the server's clock (`duration_ms`, `Date`) never count as a difference."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client
from rq import Queue

from testruns.models import StepStatus, TestRun
from tests.factories import (
    MEMBERS,
    Team,
    definition,
    finished,
    make_run,
    make_workflow,
    personal_project,
)
from tests.pages.helpers import assert_login_redirect, text_of

pytestmark = pytest.mark.django_db

STEP_ROW = re.compile(r'<tr class="([^"]*)" data-step="([^"]*)">')


def compare_url(*runs: TestRun | str) -> str:
    ids = [str(run.id) if isinstance(run, TestRun) else run for run in runs]
    return "/test-runs/compare/?" + urlencode([("run", run_id) for run_id in ids])


def changed_rows(response: Any) -> dict[str, bool]:
    """Step key → whether its row is highlighted as changed."""
    return {
        key: "changed" in classes.split() for classes, key in STEP_ROW.findall(text_of(response))
    }


def set_output(run: TestRun, node_id: str, output: Any) -> None:
    run.steps.filter(node_id=node_id).update(output=output)


@pytest.fixture
def pair(team: Team, run_queue: Queue) -> tuple[TestRun, TestRun]:
    """Two finished runs of the team's workflow with the same parameters, older first."""
    return (
        finished(make_run(team.workflow, team.owner, payload={"score": 90})),
        finished(make_run(team.workflow, team.owner, payload={"score": 90})),
    )


@pytest.mark.parametrize("who", MEMBERS)
def test_members_see_both_runs_side_by_side(
    team: Team, who: str, pair: tuple[TestRun, TestRun]
) -> None:
    older, newer = pair
    response = team.client(who).get(compare_url(newer, older))
    assert response.status_code == 200
    # Older on the left (A) whatever order the ids come in.
    assert response.context["left"] == older
    assert response.context["right"] == newer
    body = text_of(response)
    assert "Compare test runs" in body
    assert body.index(older.short_id) < body.index(newer.short_id)
    assert set(changed_rows(response)) == {"hook", "map", "hot", "notify", "done"}
    assert "0 steps and 0 parameters differ" in body


def test_outsiders_get_404(team: Team, pair: tuple[TestRun, TestRun]) -> None:
    response = team.client("outsider").get(compare_url(*pair))
    assert response.status_code == 404
    assert pair[0].short_id not in response.content.decode()


def test_a_run_of_another_project_makes_it_404_for_members_too(
    team: Team, pair: tuple[TestRun, TestRun]
) -> None:
    theirs = make_run(
        make_workflow(personal_project(team.outsider), definition("their-flow")), team.outsider
    )
    for who in ("owner", "outsider"):
        assert team.client(who).get(compare_url(pair[0], theirs)).status_code == 404


def test_unknown_or_malformed_run_ids_are_404(team: Team, pair: tuple[TestRun, TestRun]) -> None:
    client = team.client("owner")
    assert client.get(compare_url(pair[0], str(uuid.uuid4()))).status_code == 404
    assert client.get(compare_url(pair[0], "not-a-run")).status_code == 404


def test_anonymous_is_sent_to_login(pair: tuple[TestRun, TestRun]) -> None:
    url = compare_url(*pair)
    assert_login_redirect(Client().get(url), url)


@pytest.mark.parametrize("count", [0, 1], ids=["no-run", "one-run-without-source"])
def test_without_two_runs_it_is_400_and_says_to_pick_two(
    team: Team, pair: tuple[TestRun, TestRun], count: int
) -> None:
    response = team.client("viewer").get(compare_url(*pair[:count]))
    assert response.status_code == 400
    assert "Pick two test runs to compare" in text_of(response)
    assert "compare-steps" not in response.content.decode()


def test_one_rerun_alone_is_compared_with_its_source(
    team: Team, pair: tuple[TestRun, TestRun]
) -> None:
    source, rerun = pair
    TestRun.objects.filter(pk=rerun.pk).update(source_run=source)
    response = team.client("viewer").get(compare_url(rerun))
    assert response.status_code == 200
    assert (response.context["left"], response.context["right"]) == (source, rerun)


def test_volatile_keys_are_not_a_difference(team: Team, pair: tuple[TestRun, TestRun]) -> None:
    older, newer = pair
    for run, took, date in ((older, 12, "Mon, 01 Jun 2026 10:00:00 GMT"),
                            (newer, 950, "Tue, 02 Jun 2026 11:30:00 GMT")):  # fmt: skip
        set_output(run, "map", {
            "status": 200,
            "duration_ms": took,
            "headers": {"Date": date, "Content-Type": "application/json"},
            "pages": [{"date": date, "items": 3}],
        })  # fmt: skip
        run.steps.filter(node_id="map").update(duration_ms=took)

    response = team.client("owner").get(compare_url(older, newer))

    assert response.status_code == 200
    assert changed_rows(response)["map"] is False
    assert response.context["changed_steps"] == 0
    assert "output differs" not in response.content.decode()
    assert "0 steps and 0 parameters differ" in text_of(response)
    # Both outputs are still shown in full, clock and timings included.
    body = text_of(response)
    assert "Mon, 01 Jun 2026 10:00:00 GMT" in body
    assert "Tue, 02 Jun 2026 11:30:00 GMT" in body


def test_other_output_changes_next_to_volatile_ones_are_a_difference(
    team: Team, pair: tuple[TestRun, TestRun]
) -> None:
    older, newer = pair
    set_output(older, "map", {"duration_ms": 12, "headers": {"Date": "Mon"}, "lead": "ann"})
    set_output(newer, "map", {"duration_ms": 950, "headers": {"Date": "Tue"}, "lead": "bob"})

    response = team.client("owner").get(compare_url(older, newer))

    rows = changed_rows(response)
    assert rows["map"] is True
    assert rows["hook"] is False
    assert response.context["changed_steps"] == 1
    assert "output differs" in response.content.decode()


def test_a_step_status_change_and_a_parameter_change_are_differences(
    team: Team, run_queue: Queue
) -> None:
    older = finished(make_run(team.workflow, team.owner, payload={"score": 90}))
    newer = finished(make_run(team.workflow, team.owner, payload={"score": 10}))
    newer.steps.filter(node_id="map").update(status=StepStatus.FAILED, error="boom")

    response = team.client("editor").get(compare_url(older, newer))

    assert changed_rows(response)["map"] is True
    assert response.context["changed_parameters"] == 1
    changed = [p.name for p in response.context["parameters"] if p.changed]
    assert changed == ["payload"]
    assert "1 step and 1 parameter differ" in text_of(response)
