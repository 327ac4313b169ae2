"""How the workflow editor words its errors: a problem inside a node names the node's id
next to its path, a JMESPath syntax error says what and where on one line, and a JSON syntax
error gives the line and column the page moves the caret to."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.factories import Team, definition
from tests.pages.helpers import problems_in, text_of

pytestmark = pytest.mark.django_db

NODE_REF = re.compile(
    r'<span class="node-ref" data-node="([^"]+)">\(id <code>([^<]+)</code>\)</span>'
)


def post(team: Team, text: str, *, htmx: bool = True) -> Any:
    client = team.client("editor", htmx=htmx)
    return client.post(team.url(f"/workflows/{team.workflow.slug}/edit/"), {"definition": text})


def test_a_problem_in_a_node_names_the_node_id_after_its_path(team: Team) -> None:
    doc = definition()
    doc["nodes"][1]["config"] = {"expression": "body.{email: email"}
    doc["nodes"][2]["config"] = {"condition": "score >"}

    response = post(team, json.dumps(doc))

    assert response.status_code == 400
    body = response.content.decode()
    shown = dict(problems_in(response))
    assert set(shown) == {"nodes[1].config.expression", "nodes[2].config.condition"}
    assert NODE_REF.findall(body) == [("map", "map"), ("hot", "hot")]
    text = re.sub(r"<[^>]+>", "", shown["nodes[2].config.condition"])
    assert text == (
        "(id hot) invalid JMESPath 'score >': "
        "the expression is incomplete, something is missing after column 7"
    )


def test_no_jmespath_problem_ends_with_a_dangling_colon(team: Team) -> None:
    doc = definition()
    doc["nodes"][1]["config"] = {"expression": "a[?b==]"}
    doc["nodes"][2]["config"] = {"condition": "length("}
    doc["nodes"][3]["config"] = {"template": {"hot": "{{ foo bar }}"}}

    response = post(team, json.dumps(doc))

    messages = [re.sub(r"<[^>]+>", "", m) for _, m in problems_in(response)]
    assert len(messages) == 3, messages
    for message in messages:
        assert not message.rstrip().endswith(":"), message
        assert "Incomplete expression" not in message
        assert "for expression" not in message
        assert re.search(r"column \d+", message), message


def test_a_problem_outside_the_nodes_names_no_node(team: Team) -> None:
    doc = definition()
    doc["edges"][0]["target"] = "ghost"

    response = post(team, json.dumps(doc))

    assert [p for p, _ in problems_in(response)] == ["edges[0].target"]
    assert "node-ref" not in response.content.decode()


def test_a_json_syntax_error_gives_the_line_and_column(team: Team) -> None:
    text = '{\n  "schema_version": 1,\n  "name": "x"\n  "slug": "lead-flow"\n}'

    response = post(team, text, htmx=False)

    assert response.status_code == 400
    [(path, message)] = problems_in(response)
    assert path == "$"
    assert "line 4, column 3" in message
    page = text_of(response)
    # The editor keeps the text and is the field the page moves the caret in.
    assert 'data-caret-to-errors aria-describedby="definition-error"' in page
    assert '<div class="field-error" id="definition-error" role="alert"></div>' in page
