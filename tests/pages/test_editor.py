"""The workflow editor (/workflows/new/ and /workflows/<slug>/edit/): every kind of invalid
definition is refused with the JSON path of the problem and nothing saved; valid edits make
exactly one new version."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.html import escape

from meshhook.models import Workflow, WorkflowVersion
from tests.factories import Team, definition
from tests.pages.helpers import problems_in

pytestmark = pytest.mark.django_db

Doc = dict[str, Any]


def _set(doc: Doc, **changes: Any) -> Doc:
    doc.update(changes)
    return doc


def _without(doc: Doc, key: str) -> Doc:
    del doc[key]
    return doc


def _add_node(doc: Doc, node: Doc, after: str = "notify") -> Doc:
    doc["nodes"].append(node)
    doc["edges"].append({"source": after, "target": node["id"]})
    return doc


def _loop_crossing(doc: Doc) -> Doc:
    doc["nodes"] = [
        {"id": "hook", "type": "webhook_trigger"},
        {"id": "each", "type": "loop", "config": {"items": "body.items"}},
        {"id": "inner", "type": "transform", "parent": "each", "config": {"expression": "@"}},
        {"id": "after", "type": "transform", "config": {"expression": "@"}},
    ]
    doc["edges"] = [
        {"source": "hook", "target": "each"},
        {"source": "each", "target": "after"},
        {"source": "inner", "target": "after"},
    ]
    return doc


def _nodes(doc: Doc, index: int, **changes: Any) -> Doc:
    doc["nodes"][index].update(changes)
    return doc


def _edge(doc: Doc, index: int, **changes: Any) -> Doc:
    doc["edges"][index].update(changes)
    return doc


# (id, how to break the valid definition, the JSON path shown, part of the message)
INVALID: list[tuple[str, Callable[[Doc], Doc | str], str, str]] = [
    ("not-json", lambda d: json.dumps(d)[:-3], "$", "Not valid JSON"),
    ("not-an-object", lambda d: "[1, 2]", "$", "must be a JSON object"),
    ("schema-version", lambda d: _set(d, schema_version=2), "schema_version", "must be 1"),
    ("missing-name", lambda d: _without(d, "name"), "name", "name must be a non-empty string"),
    ("bad-slug", lambda d: _set(d, slug="Lead Flow!"), "slug", "lowercase letters"),
    (
        "duplicate-node-id",
        lambda d: _add_node(d, {"id": "map", "type": "terminate", "config": {"status": "success"}}),
        "nodes[5].id",
        "duplicate id 'map'",
    ),
    (
        "unknown-node-type",
        lambda d: _nodes(d, 1, type="teleport"),
        "nodes[1].type",
        "unknown node type 'teleport'",
    ),
    (
        "edge-to-unknown-node",
        lambda d: _edge(d, 0, target="ghost"),
        "edges[0].target",
        "target 'ghost' is not the id of any node",
    ),
    (
        "cycle",
        lambda d: _set(d, edges=[*d["edges"], {"source": "done", "target": "map"}]),
        "edges[5]",
        "closes a cycle",
    ),
    (
        "no-trigger",
        lambda d: _nodes(d, 0, type="transform", config={"expression": "body"}),
        "nodes",
        "exactly one webhook_trigger node is required",
    ),
    (
        "two-triggers",
        lambda d: _set(d, nodes=[*d["nodes"], {"id": "hook2", "type": "webhook_trigger"}]),
        "nodes[5].type",
        "exactly one webhook_trigger node is allowed",
    ),
    (
        "when-on-non-branch-edge",
        lambda d: _edge(d, 0, when="true"),
        "edges[0].when",
        "when is only allowed on edges leaving a branch",
    ),
    (
        "bad-jmespath",
        lambda d: _nodes(d, 1, config={"expression": "body.[["}),
        "nodes[1].config.expression",
        "invalid JMESPath 'body.[['",
    ),
    (
        "bad-template",
        lambda d: _nodes(d, 3, config={"template": {"hot": "{{ steps.map"}}),
        "nodes[3].config.template.hot",
        "unclosed '{{'",
    ),
    (
        "loop-body-edge-crosses-boundary",
        _loop_crossing,
        "edges[2]",
        "edge crosses the boundary of loop 'each'",
    ),
    (
        "http-call-without-url",
        lambda d: _add_node(d, {"id": "call", "type": "http_call", "config": {"method": "POST"}}),
        "nodes[5].config.url",
        "url is required for a http_call node",
    ),
    (
        "delay-zero",
        lambda d: _add_node(d, {"id": "wait", "type": "delay", "config": {"duration_ms": 0}}),
        "nodes[5].config.duration_ms",
        "must be an integer from 1 to 86400000, got 0",
    ),
]


def broken_text(breaker: Callable[[Doc], Doc | str]) -> str:
    result = breaker(copy.deepcopy(definition()))
    return result if isinstance(result, str) else json.dumps(result, indent=2)


def counts() -> tuple[int, int]:
    return Workflow.objects.count(), WorkflowVersion.objects.count()


def editor_url(team: Team, page: str) -> str:
    if page == "new":
        return team.url("/workflows/new/")
    return team.url(f"/workflows/{team.workflow.slug}/edit/")


@pytest.mark.parametrize("page", ["new", "edit"])
@pytest.mark.parametrize(
    ("breaker", "path", "message"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
def test_invalid_definition_is_rejected_with_its_path_and_nothing_saved(
    team: Team, page: str, breaker: Callable[[Doc], Doc | str], path: str, message: str
) -> None:
    before = counts()
    text = broken_text(breaker)

    response = team.client("editor").post(editor_url(team, page), {"definition": text})

    assert response.status_code == 400
    shown = problems_in(response)
    assert path in [p for p, _ in shown], shown
    assert any(p == path and message in m for p, m in shown), shown
    assert "nothing was saved" in response.content.decode()
    # The text the user typed stays in the editor so they can fix it.
    assert escape(text) in response.content.decode()
    assert counts() == before
    team.workflow.refresh_from_db()
    assert team.workflow.latest_version == 1


def test_every_problem_is_listed_at_once(team: Team) -> None:
    doc = definition(schema_version=3, slug="Nope")
    doc["nodes"][1]["config"] = {"expression": "body.[["}
    doc["edges"][0]["target"] = "ghost"

    response = team.client("owner").post(editor_url(team, "new"), {"definition": json.dumps(doc)})

    assert response.status_code == 400
    paths = {p for p, _ in problems_in(response)}
    assert {"schema_version", "slug", "nodes[1].config.expression", "edges[0].target"} <= paths
    assert "problems — nothing was saved" in response.content.decode()


def test_invalid_text_is_kept_in_the_textarea(team: Team) -> None:
    text = '{"schema_version": 1, "name": "half typed'
    response = team.client("owner").post(editor_url(team, "edit"), {"definition": text})
    assert response.status_code == 400
    assert "{&quot;schema_version&quot;: 1, &quot;name&quot;: &quot;half typed" in (
        response.content.decode()
    )


def test_empty_definition_is_400(team: Team) -> None:
    before = counts()
    response = team.client("owner").post(editor_url(team, "new"), {"definition": ""})
    assert response.status_code == 400
    assert [p for p, _ in problems_in(response)] == ["$"]
    assert counts() == before


@pytest.mark.parametrize("who", ["owner", "editor"])
def test_valid_edit_creates_the_next_version_and_redirects(team: Team, who: str) -> None:
    doc = definition(name="Lead flow, renamed")
    doc["nodes"][1]["config"]["expression"] = "body.lead"

    response = team.client(who).post(editor_url(team, "edit"), {"definition": json.dumps(doc)})

    assert response.status_code == 302
    assert response["Location"] == team.workflow.get_absolute_url()
    team.workflow.refresh_from_db()
    assert team.workflow.latest_version == 2
    assert team.workflow.name == "Lead flow, renamed"
    version = team.workflow.current_version()
    assert version.definition == doc
    assert version.created_by == team.user(who)
    # The earlier version is kept unchanged.
    assert team.workflow.versions.get(number=1).definition == definition()


def test_identical_resave_creates_no_version(team: Team) -> None:
    before = counts()
    # Same document, different formatting: still identical.
    text = json.dumps(definition(), indent=4, sort_keys=True)

    response = team.client("owner").post(editor_url(team, "edit"), {"definition": text})

    assert response.status_code == 302
    assert counts() == before
    team.workflow.refresh_from_db()
    assert team.workflow.latest_version == 1


def test_edit_with_another_slug_is_rejected_naming_slug(team: Team) -> None:
    before = counts()
    doc = definition(slug="other-flow")

    response = team.client("owner").post(editor_url(team, "edit"), {"definition": json.dumps(doc)})

    assert response.status_code == 400
    shown = problems_in(response)
    assert [p for p, _ in shown] == ["slug"]
    assert "'other-flow'" in shown[0][1]
    assert "'lead-flow'" in shown[0][1]
    assert counts() == before
    assert not Workflow.objects.filter(slug="other-flow").exists()


def test_htmx_post_returns_only_the_problems_fragment(team: Team) -> None:
    before = counts()
    text = broken_text(lambda d: _nodes(d, 1, config={"expression": "body.[["}))

    response = team.client("owner", htmx=True).post(editor_url(team, "edit"), {"definition": text})

    assert response.status_code == 400
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="problems">')
    assert "<html" not in body
    assert "<textarea" not in body
    assert [p for p, _ in problems_in(response)] == ["nodes[1].config.expression"]
    assert counts() == before


def test_htmx_valid_save_answers_with_hx_redirect(team: Team) -> None:
    doc = definition(description="now with a description")

    response = team.client("owner", htmx=True).post(
        editor_url(team, "edit"), {"definition": json.dumps(doc)}
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == team.workflow.get_absolute_url()
    team.workflow.refresh_from_db()
    assert team.workflow.latest_version == 2
    assert team.workflow.description == "now with a description"


def test_new_workflow_from_the_textarea(team: Team) -> None:
    doc = definition(slug="fresh-flow", name="Fresh flow")

    response = team.client("editor").post(editor_url(team, "new"), {"definition": json.dumps(doc)})

    assert response.status_code == 302
    assert response["Location"] == f"/workflows/fresh-flow/?project={team.project.slug}"
    workflow = Workflow.objects.get(slug="fresh-flow")
    assert workflow.project == team.project
    assert workflow.latest_version == 1
    assert workflow.current_version().created_by == team.editor


def test_import_by_file_upload(team: Team) -> None:
    doc = definition(slug="imported-flow", name="Imported flow")
    upload = SimpleUploadedFile(
        "imported-flow.json", json.dumps(doc).encode(), content_type="application/json"
    )

    response = team.client("owner").post(editor_url(team, "new"), {"file": upload})

    assert response.status_code == 302
    assert response["Location"] == f"/workflows/imported-flow/?project={team.project.slug}"
    workflow = Workflow.objects.get(project=team.project, slug="imported-flow")
    assert workflow.name == "Imported flow"
    assert workflow.current_version().definition == doc


def test_import_of_an_invalid_file_saves_nothing(team: Team) -> None:
    before = counts()
    doc = definition(slug="imported-flow")
    doc["nodes"].append({"id": "wait", "type": "delay", "config": {"duration_ms": 0}})
    upload = SimpleUploadedFile("bad.json", json.dumps(doc).encode())

    response = team.client("owner").post(editor_url(team, "new"), {"file": upload})

    assert response.status_code == 400
    assert ("nodes[5].config.duration_ms") in [p for p, _ in problems_in(response)]
    assert counts() == before


def test_import_of_a_file_that_is_not_json(team: Team) -> None:
    before = counts()
    upload = SimpleUploadedFile("notes.json", b"\xff\xfe not json at all")
    response = team.client("owner").post(editor_url(team, "new"), {"file": upload})
    assert response.status_code == 400
    assert [p for p, _ in problems_in(response)] == ["$"]
    assert counts() == before


def test_new_workflow_with_an_existing_slug_is_refused(team: Team) -> None:
    response = team.client("owner").post(
        editor_url(team, "new"), {"definition": json.dumps(definition())}
    )
    assert response.status_code == 400
    shown = problems_in(response)
    assert [p for p, _ in shown] == ["slug"]
    assert "already exists" in shown[0][1]


def test_new_workflow_with_an_existing_slug_saves_nothing(team: Team) -> None:
    before = counts()
    changed = definition(name="Overwritten from the New page")

    response = team.client("owner").post(
        editor_url(team, "new"), {"definition": json.dumps(changed)}
    )

    assert response.status_code == 400
    assert "nothing was saved" in response.content.decode()
    assert counts() == before
    team.workflow.refresh_from_db()
    assert team.workflow.latest_version == 1
    assert team.workflow.name == "Lead flow"
