"""The JSON viewer's "Assert" on the run page: an assertion on a value of a finished run,
saved into the run's test case or into a new one made from the run; every problem named by
its form field and nothing saved; owner / editor / viewer / outsider. And "Accept as new
baseline" on a run of a test case."""

from __future__ import annotations

import re
from typing import Any

import pytest

from testruns import assertions
from testruns.models import RunStatus, TestRun
from testruns.testcase_models import TestCase
from testruns.testcases import start_case_run
from tests.factories import Team, finished, make_run, make_workflow
from tests.pages.helpers import problems_in, text_of
from tests.testcases.helpers import make_case

pytestmark = pytest.mark.django_db

PASSES = {"target": "run.status", "op": "equals", "expected": "passed"}


def form(**changes: Any) -> dict[str, str]:
    """What the form posts for `map`'s output (`{"node": "map"}` in a finished run)."""
    data = {"case": "new", "name": "map says map", "target": "step.output", "node": "map",
            "path": "node", "op": "equals", "expected": '"map"'}  # fmt: skip
    data.update(changes)
    return data


def post(team: Team, run: TestRun, who: str = "owner", **changes: Any) -> Any:
    return team.client(who, htmx=True).post(f"/test-cases/assert/{run.id}/", form(**changes))


def words(response: Any) -> str:
    """The text a reader reads: tags dropped, entities decoded."""
    return re.sub(r"<[^>]+>", "", text_of(response))


def case_run(team: Team, case: TestCase) -> TestRun:
    return finished(start_case_run(case, user=team.owner, source="console"))


@pytest.mark.parametrize(("who", "status"), [("owner", 200), ("editor", 200), ("viewer", 403),
                                             ("outsider", 404)])  # fmt: skip
def test_assert_a_value_into_a_new_test_case(team: Team, who: str, status: int) -> None:
    run = finished(make_run(team.workflow, team.owner, payload={"score": 5}))

    response = post(team, run, who)

    assert response.status_code == status
    case = TestCase.objects.filter(name="map says map").first()
    assert (case is not None) is (status == 200)
    if case is None:
        return
    # Made the way "Save as test case" makes one, with the asserted value after "it passes".
    assert case.payload == {"score": 5}
    assert case.baseline_run_id == run.id
    assert case.created_by == team.user(who)
    assert case.assertions == [
        PASSES,
        {"target": "step.output", "node": "map", "path": "node", "op": "equals", "expected": "map"},
    ]
    text = text_of(response)
    assert "Saved into the new test case “map says map”" in words(response)
    assert "step.output of 'map' at node equals \"map\"" in words(response)
    assert f'data-case-id="{case.id}"' in text
    assert f'hx-post="/test-cases/{case.id}/run/"' in text  # ▶ Run test case


def test_a_run_of_a_test_case_gets_the_assertion_and_the_same_check_replaces_it(
    team: Team,
) -> None:
    case = make_case(team.workflow, team.owner, assertions=[PASSES])
    run = case_run(team, case)

    wrong = post(team, run, case=str(case.id), expected="99")
    fixed = post(team, run, case=str(case.id), expected='"map"')
    other_op = post(team, run, case=str(case.id), op="exists", expected="ignored")

    assert [wrong.status_code, fixed.status_code, other_op.status_code] == [200, 200, 200]
    case.refresh_from_db()
    assert case.assertions == [
        PASSES,
        {"target": "step.output", "node": "map", "path": "node", "op": "equals", "expected": "map"},
        {"target": "step.output", "node": "map", "path": "node", "op": "exists"},
    ]
    assert "Saved into test case “hot lead”." in words(wrong)
    assert "it replaces the equals assertion on this value that expected 99" in words(fixed)
    assert TestCase.objects.count() == 1


def test_the_whole_output_and_the_run_result(team: Team) -> None:
    case = make_case(team.workflow, team.owner)
    run = case_run(team, case)

    whole = post(team, run, case=str(case.id), path="", expected='{"node": "map"}')
    result = post(team, run, case=str(case.id), target="run.result", node="", path="",
                  op="type_is", expected='"null"')  # fmt: skip

    assert whole.status_code == result.status_code == 200
    case.refresh_from_db()
    assert case.assertions == [
        {"target": "step.output", "node": "map", "op": "equals", "expected": {"node": "map"}},
        {"target": "run.result", "op": "type_is", "expected": "null"},
    ]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"expected": "{'a': 1}"}, "expected", "Not valid JSON"),
        ({"expected": "  "}, "expected", "Give the expected value as JSON"),
        ({"expected": "NaN"}, "expected", "Not valid JSON"),
        ({"op": "roughly"}, "op", "op must be one of equals"),
        ({"op": "gt", "expected": "[1]"}, "expected", "gt compares with a number"),
        ({"path": "node[?"}, "path", "Not valid JMESPath"),
        ({"node": "ghost"}, "node", "No node 'ghost' in the workflow"),
        ({"node": ""}, "node", "step.output needs the node's id"),
        ({"target": "step.colour"}, "target", "target must be one of"),
        ({"name": " "}, "name", "Give the test case a name"),
        ({"name": "taken"}, "name", "already has a test case 'taken'"),
        ({"case": "not-a-uuid"}, "case", "Pick a test case"),
    ],
)
def test_problems_name_their_field_and_save_nothing(
    team: Team, changes: dict[str, str], field: str, message: str
) -> None:
    taken = make_case(team.workflow, team.owner, name="taken", assertions=[PASSES])
    run = finished(make_run(team.workflow, team.owner))

    response = post(team, run, **changes)

    assert response.status_code == 400
    problems = problems_in(response)
    assert [path for path, _ in problems] == [field], problems
    assert message in problems[0][1]
    assert TestCase.objects.get() == taken
    taken.refresh_from_db()
    assert taken.assertions == [PASSES]
    # The form comes back as the user left it, to fix and send again.
    text = text_of(response)
    assert text.lstrip().startswith('<form class="assert-form"')
    for key, value in changes.items():
        if key not in ("case", "op", "target", "node") and value.strip():
            assert value in text


def test_a_test_case_of_another_workflow_is_refused(team: Team) -> None:
    from tests.factories import definition

    elsewhere = make_workflow(team.project, definition("other-flow"), team.owner)
    foreign = make_case(elsewhere, team.owner, name="foreign", assertions=[])
    run = finished(make_run(team.workflow, team.owner))

    response = post(team, run, case=str(foreign.id))

    assert response.status_code == 400
    assert problems_in(response) == [
        ("case", f"Workflow '{team.workflow.slug}' has no test case {foreign.id}.")
    ]
    foreign.refresh_from_db()
    assert foreign.assertions == []


def test_only_a_finished_run_and_only_by_post(team: Team) -> None:
    running = make_run(team.workflow, team.owner)
    client = team.client("owner", htmx=True)

    assert post(team, running).status_code == 409
    assert client.get(f"/test-cases/assert/{running.id}/").status_code == 405
    assert not TestCase.objects.exists()


@pytest.mark.parametrize(("who", "form_shown"), [("owner", True), ("viewer", False)])
def test_the_run_page_offers_the_form_to_editors(team: Team, who: str, form_shown: bool) -> None:
    case = make_case(team.workflow, team.owner, name="mine", assertions=[PASSES])
    run = case_run(team, case)

    html = team.client(who).get(f"/test-runs/{run.id}/").content.decode()

    assert ('<template id="assert-template">' in html) is form_shown
    if not form_shown:
        return
    template = html.split('<template id="assert-template">', 1)[1].split("</template>", 1)[0]
    ops = re.findall(r'<option value="(\w+)"(?: selected)?>\1</option>', template)
    assert tuple(ops) == assertions.OPS  # the 12 ops, in the API's order
    # The run's own test case is the default, and no name is asked for then.
    assert f'<option value="{case.id}" selected>mine</option>' in template
    assert 'class="assert-name" hidden' in template


def test_a_plain_run_defaults_to_a_new_test_case(team: Team) -> None:
    run = finished(make_run(team.workflow, team.owner))

    html = team.client("editor").get(f"/test-runs/{run.id}/").content.decode()

    assert '<option value="new" selected>A new test case from this run</option>' in html
    assert f"Lead flow · run {run.short_id}" in html


@pytest.mark.parametrize(("who", "status"), [("owner", 200), ("editor", 200), ("viewer", 403),
                                             ("outsider", 404)])  # fmt: skip
def test_accept_a_run_as_the_new_baseline(team: Team, who: str, status: int) -> None:
    case = make_case(team.workflow, team.owner, assertions=[PASSES])
    run = case_run(team, case)
    page = team.client("owner").get(f"/test-runs/{run.id}/").content.decode()
    assert "Accept as new baseline" in page

    response = team.client(who, htmx=True).post(f"/test-cases/baseline/{run.id}/")

    assert response.status_code == status
    case.refresh_from_db()
    assert (case.baseline_run_id == run.id) is (status == 200)
    if status == 200:
        text = text_of(response)
        assert text.lstrip().startswith('<section class="card" id="run-assertions"')
        assert "✓ The baseline of “hot lead”" in words(response)
        assert "Accept as new baseline" not in text


def test_a_baseline_is_a_finished_run_of_a_test_case(team: Team) -> None:
    plain = finished(make_run(team.workflow, team.owner))
    case = make_case(team.workflow, team.owner, assertions=[PASSES])
    running = start_case_run(case, user=team.owner, source="console")
    client = team.client("owner", htmx=True)

    assert client.post(f"/test-cases/baseline/{plain.id}/").status_code == 409
    assert client.post(f"/test-cases/baseline/{running.id}/").status_code == 409
    case.refresh_from_db()
    assert case.baseline_run is None
    failed = finished(start_case_run(case, user=team.owner, source="console"), RunStatus.FAILED)
    plain_post = team.client("owner").post(f"/test-cases/baseline/{failed.id}/")
    assert plain_post["Location"] == f"/test-runs/{failed.id}/"
    case.refresh_from_db()
    assert case.baseline_run == failed
