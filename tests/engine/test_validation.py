"""Every validation rule of DESIGN §2: the JSON path of the problem and a readable message."""

from typing import Any

import pytest

from meshhook.engine import DefinitionError, Limits, Problem, parse_definition

from .helpers import branch, chain, definition, edge, problems_of, terminate, transform, trigger


def loop(node_id: str = "each", **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "loop", "config": {"items": "body", **config}}


def http(node_id: str = "call", **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "http_call", "config": {"url": "http://x.test", **config}}


def with_node(node: dict[str, Any], **top_level: Any) -> dict[str, Any]:
    """A trigger followed by `node`, so the node's own problem is the only one."""
    return definition([trigger(), node], chain("hook", node["id"]), **top_level)


CASES: list[tuple[str, Any, str, str]] = [
    ("not-an-object", [1, 2], "$", "must be a JSON object, got an array"),
    ("schema-version", definition([trigger()], schema_version=2), "schema_version", "must be 1"),
    ("name-missing", {**definition([trigger()]), "name": ""}, "name", "non-empty string"),
    ("slug-invalid", definition([trigger()], slug="Bad Slug"), "slug", "lowercase letters"),
    ("slug-too-long", definition([trigger()], slug="a" * 65), "slug", "1-64"),
    ("unknown-top-level-field", definition([trigger()], colour="red"), "colour", "unknown field"),
    (
        "nodes-not-a-list",
        {**definition([trigger()]), "nodes": {"a": 1}},
        "nodes",
        "must be an array",
    ),
    ("node-not-an-object", definition([trigger(), "x"]), "nodes[1]", "node must be an object"),
    (
        "node-id-invalid",
        definition([trigger(), transform("a b")]),
        "nodes[1].id",
        "letters, digits",
    ),
    (
        "node-id-missing",
        definition([trigger(), {"type": "transform"}]),
        "nodes[1].id",
        "got nothing",
    ),
    (
        "node-id-duplicate",
        definition([trigger(), transform("a"), transform("a")], chain("hook", "a")),
        "nodes[2].id",
        "duplicate id 'a' (already used by nodes[1])",
    ),
    (
        "node-type-unknown",
        with_node({"id": "x", "type": "email"}),
        "nodes[1].type",
        "unknown node type 'email'",
    ),
    (
        "node-field-unknown",
        with_node(transform("t", on_eror="continue")),
        "nodes[1].on_eror",
        "unknown node field",
    ),
    (
        "config-not-object",
        with_node({"id": "t", "type": "branch", "config": []}),
        "nodes[1].config",
        "must be an object",
    ),
    (
        "config-missing",
        with_node({"id": "b", "type": "branch"}),
        "nodes[1].config",
        "config is required",
    ),
    (
        "config-key-unknown",
        with_node(http(urll="x")),
        "nodes[1].config.urll",
        "unknown config key 'urll'",
    ),
    (
        "config-required-key",
        with_node({"id": "c", "type": "http_call", "config": {"method": "GET"}}),
        "nodes[1].config.url",
        "url is required",
    ),
    (
        "transform-neither",
        with_node(transform("t", config={"expression": "a"}) | {"config": {}}),
        "nodes[1].config",
        "exactly one of expression or template",
    ),
    (
        "transform-both",
        with_node(transform("t", config={"expression": "a", "template": {}})),
        "nodes[1].config",
        "exactly one of expression or template",
    ),
    (
        "http-method",
        with_node(http(method="FETCH")),
        "nodes[1].config.method",
        "must be one of GET, POST",
    ),
    ("http-url-not-string", with_node(http(url=5)), "nodes[1].config.url", "non-empty string"),
    (
        "http-headers-not-strings",
        with_node(http(headers={"X-Count": 3})),
        'nodes[1].config.headers["X-Count"]',
        "must be a string",
    ),
    (
        "http-response-type",
        with_node(http(response_type="xml")),
        "nodes[1].config.response_type",
        "auto, json, text",
    ),
    (
        "http-fail-on-status",
        with_node(http(fail_on_status="yes")),
        "nodes[1].config.fail_on_status",
        "true or false",
    ),
    (
        "webhook-method",
        with_node(
            {"id": "w", "type": "webhook", "config": {"url": "http://x.test", "method": "GET"}}
        ),
        "nodes[1].config.method",
        "POST, PUT, PATCH",
    ),
    (
        "branch-condition-missing",
        with_node({"id": "b", "type": "branch", "config": {}}),
        "nodes[1].config.condition",
        "condition is required",
    ),
    (
        "delay-not-positive",
        with_node({"id": "d", "type": "delay", "config": {"duration_ms": 0}}),
        "nodes[1].config.duration_ms",
        "integer from 1",
    ),
    (
        "delay-not-integer",
        with_node({"id": "d", "type": "delay", "config": {"duration_ms": 1.5}}),
        "nodes[1].config.duration_ms",
        "integer",
    ),
    (
        "loop-items-missing",
        with_node({"id": "l", "type": "loop", "config": {}}),
        "nodes[1].config.items",
        "items is required",
    ),
    (
        "loop-max-items",
        with_node(loop(max_items=5000)),
        "nodes[1].config.max_items",
        "from 1 to 1000",
    ),
    (
        "terminate-status",
        with_node(terminate("t", status="ok")),
        "nodes[1].config.status",
        "success, failure, cancelled",
    ),
    (
        "xml-direction",
        with_node({"id": "x", "type": "xml_json_transform", "config": {"direction": "up"}}),
        "nodes[1].config.direction",
        "auto, xml_to_json, json_to_xml",
    ),
    (
        "xml-attribute-prefix",
        with_node({"id": "x", "type": "xml_json_transform", "config": {"attribute_prefix": "a b"}}),
        "nodes[1].config.attribute_prefix",
        "without spaces",
    ),
    (
        "edges-not-a-list",
        {**definition([trigger()]), "edges": {"a": "b"}},
        "edges",
        "must be an array",
    ),
    ("edge-not-an-object", definition([trigger()], ["hook"]), "edges[0]", "edge must be an object"),
    (
        "edge-unknown-target",
        definition([trigger()], [edge("hook", "ghost")]),
        "edges[0].target",
        "'ghost' is not the id of any node",
    ),
    (
        "edge-missing-source",
        definition([trigger()], [{"target": "hook"}]),
        "edges[0].source",
        "source is required",
    ),
    (
        "edge-self-loop",
        definition([trigger(), transform("a")], [edge("hook", "a"), edge("a", "a")]),
        "edges[1]",
        "to itself",
    ),
    (
        "edge-duplicate",
        definition([trigger(), transform("a")], [edge("hook", "a"), edge("hook", "a")]),
        "edges[1]",
        "duplicate of edges[0]",
    ),
    (
        "edge-field-unknown",
        definition([trigger(), transform("a")], [{"source": "hook", "target": "a", "label": "x"}]),
        "edges[0].label",
        "unknown edge field",
    ),
    (
        "cycle",
        definition(
            [trigger(), transform("a"), transform("b"), transform("c")],
            [*chain("hook", "a", "b", "c"), edge("c", "a")],
        ),
        "edges[3]",
        "closes a cycle: a → b → c → a",
    ),
    (
        "no-trigger",
        definition([transform("a")]),
        "nodes",
        "exactly one webhook_trigger node is required",
    ),
    (
        "two-triggers",
        definition([trigger(), trigger("again")]),
        "nodes[1].type",
        "exactly one webhook_trigger node is allowed",
    ),
    (
        "trigger-incoming-edge",
        definition([trigger(), transform("a")], [edge("hook", "a"), edge("a", "hook")]),
        "edges[1].target",
        "cannot have incoming edges",
    ),
    (
        "trigger-input",
        definition([trigger() | {"input": "body"}]),
        "nodes[0].input",
        "input is not allowed",
    ),
    (
        "when-on-non-branch-edge",
        definition([trigger(), transform("a")], [edge("hook", "a", "true")]),
        "edges[0].when",
        "only allowed on edges leaving a branch",
    ),
    (
        "when-invalid",
        definition(
            [trigger(), branch("b", "x"), transform("a")],
            [edge("hook", "b"), {"source": "b", "target": "a", "when": "yes"}],
        ),
        "edges[1].when",
        'must be "true" or "false"',
    ),
    (
        "branch-edge-without-when",
        definition([trigger(), branch("b", "x"), transform("a")], chain("hook", "b", "a")),
        "edges[1].when",
        "need when",
    ),
    (
        "jmespath-condition",
        with_node(branch("b", "score >")),
        "nodes[1].config.condition",
        "invalid JMESPath 'score >'",
    ),
    (
        "jmespath-expression",
        with_node(transform("t", "a.[")),
        "nodes[1].config.expression",
        "invalid JMESPath",
    ),
    ("jmespath-items", with_node(loop(items="[*")), "nodes[1].config.items", "invalid JMESPath"),
    (
        "jmespath-input",
        with_node(transform("t", input="steps..a")),
        "nodes[1].input",
        "invalid JMESPath",
    ),
    (
        "jmespath-unknown-function",
        with_node(transform("t", "shout(name)")),
        "nodes[1].config.expression",
        "unknown function shout()",
    ),
    (
        "jmespath-arity",
        with_node(transform("t", "length(a, b)")),
        "nodes[1].config.expression",
        "takes 1 argument, got 2",
    ),
    (
        "jmespath-empty",
        with_node(branch("b", "  ")),
        "nodes[1].config.condition",
        "expression is empty",
    ),
    (
        "template-unclosed",
        with_node(http(url="http://{{env.HOST")),
        "nodes[1].config.url",
        "unclosed '{{'",
    ),
    (
        "template-empty",
        with_node(http(url="http://x.test/{{ }}")),
        "nodes[1].config.url",
        "empty '{{ }}'",
    ),
    (
        "template-bad-jmespath",
        with_node(http(body={"email": "{{ email[ }}"})),
        "nodes[1].config.body.email",
        "invalid JMESPath",
    ),
    (
        "template-in-list",
        with_node(transform("t", config={"template": ["ok", "{{ }}"]})),
        "nodes[1].config.template[1]",
        "bad template",
    ),
    (
        "expression-too-long",
        with_node(transform("t", "a" * 2001)),
        "nodes[1].config.expression",
        "over the limit of 2000",
    ),
    (
        "loop-boundary-crossing",
        definition(
            [trigger(), loop(), transform("inside", parent="each"), transform("outside")],
            [*chain("hook", "each", "outside"), edge("inside", "outside")],
        ),
        "edges[2]",
        "crosses the boundary of loop 'each'",
    ),
    (
        "loop-to-own-body-edge",
        definition(
            [trigger(), loop(), transform("inside", parent="each")],
            [*chain("hook", "each", "inside")],
        ),
        "edges[1]",
        "crosses the boundary of loop 'each'",
    ),
    (
        "parent-not-a-loop",
        definition([trigger(), transform("a"), transform("b", parent="a")], chain("hook", "a")),
        "nodes[2].parent",
        "is a transform, not a loop",
    ),
    (
        "parent-unknown",
        definition([trigger(), transform("b", parent="nope")]),
        "nodes[1].parent",
        "not the id of any node",
    ),
    (
        "parent-self",
        definition([trigger(), loop() | {"parent": "each"}]),
        "nodes[1].parent",
        "own parent",
    ),
    (
        "parent-nested-loop",
        definition([trigger(), loop(), loop("inner") | {"parent": "each"}], chain("hook", "each")),
        "nodes[2].parent",
        "cannot be nested",
    ),
    (
        "terminate-in-loop-body",
        definition([trigger(), loop(), terminate("t") | {"parent": "each"}], chain("hook", "each")),
        "nodes[2].parent",
        "cannot be inside a loop body",
    ),
    (
        "retry-max-attempts",
        with_node(http() | {"retry": {"max_attempts": 0}}),
        "nodes[1].retry.max_attempts",
        "from 1 to 10",
    ),
    (
        "retry-unknown-field",
        with_node(http() | {"retry": {"tries": 2}}),
        "nodes[1].retry.tries",
        "unknown retry field",
    ),
    ("retry-not-object", with_node(http() | {"retry": 3}), "nodes[1].retry", "must be an object"),
    (
        "retry-status-codes",
        with_node(http() | {"retry": {"retryable_status_codes": [700]}}),
        "nodes[1].retry.retryable_status_codes",
        "HTTP status codes",
    ),
    (
        "default-retry-multiplier",
        definition([trigger()], settings={"default_retry": {"backoff_multiplier": 0.5}}),
        "settings.default_retry.backoff_multiplier",
        "from 1 to 10",
    ),
    (
        "settings-unknown",
        definition([trigger()], settings={"timeout": 3}),
        "settings.timeout",
        "unknown setting",
    ),
    ("settings-not-object", definition([trigger()], settings=[]), "settings", "must be an object"),
    (
        "settings-strict-templates",
        definition([trigger()], settings={"strict_templates": "no"}),
        "settings.strict_templates",
        "true or false",
    ),
    (
        "settings-run-timeout",
        definition([trigger()], settings={"run_timeout_ms": -1}),
        "settings.run_timeout_ms",
        "integer from 1",
    ),
    ("timeout-ms", with_node(http() | {"timeout_ms": 0}), "nodes[1].timeout_ms", "integer from 1"),
    (
        "timeout-ms-boolean",
        with_node(http() | {"timeout_ms": True}),
        "nodes[1].timeout_ms",
        "got true",
    ),
    (
        "on-error",
        with_node(transform("t", on_error="ignore")),
        "nodes[1].on_error",
        'must be "fail" or "continue"',
    ),
    ("label-not-string", with_node(transform("t", label=3)), "nodes[1].label", "must be a string"),
    (
        "input-not-string",
        with_node(transform("t", input=3)),
        "nodes[1].input",
        "JMESPath expression string",
    ),
    (
        "too-many-nodes",
        definition([trigger()] + [transform(f"n{i}") for i in range(200)]),
        "nodes",
        "201 nodes, over the limit of 200",
    ),
    (
        "definition-too-large",
        definition([trigger()], description="x" * 600_000),
        "$",
        "over the limit of 512.0 kB",
    ),
    ("not-plain-json", definition([trigger()], description=float("nan")), "$", "not plain JSON"),
]


def assert_problem_at(raw: Any, path: str, fragment: str) -> None:
    """The definition is refused with a problem at `path` whose message has `fragment`."""
    problems = problems_of(raw)
    matching = [problem for problem in problems if problem.path == path]
    assert matching, f"no problem at {path}: {problems}"
    assert any(fragment in problem.message for problem in matching), matching


@pytest.mark.parametrize(
    ("raw", "path", "fragment"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_problem_is_reported_at_its_json_path(raw: Any, path: str, fragment: str) -> None:
    assert_problem_at(raw, path, fragment)


def test_there_are_at_least_twenty_distinct_problem_kinds() -> None:
    assert len({case[0] for case in CASES}) >= 20


def test_every_problem_is_reported_at_once() -> None:
    raw = definition(
        [
            trigger(),
            transform("a", on_error="maybe"),
            branch("b", "x >"),
            {"id": "c", "type": "nope"},
        ],
        [edge("hook", "a"), edge("a", "ghost"), edge("hook", "b", "true")],
        slug="",
    )
    paths = {problem.path for problem in problems_of(raw)}
    assert {
        "slug",
        "nodes[1].on_error",
        "nodes[2].config.condition",
        "nodes[3].type",
        "edges[1].target",
        "edges[2].when",
    } <= paths


def test_edges_to_an_invalid_node_are_not_reported_twice() -> None:
    raw = definition([trigger(), {"id": "c", "type": "nope"}], chain("hook", "c"))
    assert [problem.path for problem in problems_of(raw)] == ["nodes[1].type"]


def test_each_cycle_is_reported_once() -> None:
    raw = definition(
        [trigger(), transform("a"), transform("b"), transform("c"), transform("d")],
        [*chain("hook", "a", "b", "a"), edge("b", "c"), *chain("c", "d", "c")],
    )
    cycles = [p.message for p in problems_of(raw) if "cycle" in p.message]
    assert sorted(cycles) == sorted(
        ["this edge closes a cycle: a → b → a", "this edge closes a cycle: c → d → c"]
    )


def test_definition_error_message_summarises_the_problems() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_definition({"schema_version": 1})
    assert str(caught.value).startswith("invalid workflow definition, 3 problems: name:")
    assert isinstance(caught.value.problems[0], Problem)
    assert str(caught.value.problems[0]).startswith("name: name must be")


def test_a_long_problem_list_is_summarised() -> None:
    raw = definition([{"id": f"bad id {i}", "type": "x"} for i in range(6)])
    with pytest.raises(DefinitionError, match=r"and \d+ more"):
        parse_definition(raw)


def test_limits_apply_to_expressions_and_nodes() -> None:
    raw = definition([trigger(), transform("a", "abcdef")], chain("hook", "a"))
    with pytest.raises(DefinitionError) as caught:
        parse_definition(raw, limits=Limits(max_expression_length=5, max_nodes=1))
    assert [p.path for p in caught.value.problems] == ["nodes"]
    with pytest.raises(DefinitionError) as caught:
        parse_definition(raw, limits=Limits(max_expression_length=5))
    assert caught.value.problems[0].path == "nodes[1].config.expression"


def test_templates_may_contain_jmespath_braces_and_quotes() -> None:
    raw = definition(
        [trigger(), transform("t", config={"template": "{{ {a: `\"}}\"`, b: 'x}}'} }}"})],
        chain("hook", "t"),
    )
    assert parse_definition(raw).node("t").compiled["template"].whole is not None


MORE_CASES: list[tuple[str, Any, str, str]] = [
    (
        "edge-id-duplicate",
        definition(
            [trigger(), transform("a"), transform("b")],
            [
                {"source": "hook", "target": "a", "id": "e"},
                {"source": "a", "target": "b", "id": "e"},
            ],
        ),
        "edges[1].id",
        "duplicate edge id 'e'",
    ),
    (
        "edge-id-invalid",
        definition([trigger(), transform("a")], [{"source": "hook", "target": "a", "id": 3}]),
        "edges[0].id",
        "non-empty string",
    ),
    (
        "http-headers-not-object",
        with_node(http(headers=["a"])),
        "nodes[1].config.headers",
        "must be an object",
    ),
    (
        "http-query-values",
        with_node(http(query={"a": [1]})),
        "nodes[1].config.query.a",
        "string, number or boolean",
    ),
    (
        "expression-not-string",
        with_node(transform("t", config={"expression": 5})),
        "nodes[1].config.expression",
        "JMESPath expression string",
    ),
    (
        "xml-root",
        with_node({"id": "x", "type": "xml_json_transform", "config": {"root": "1bad"}}),
        "nodes[1].config.root",
        "XML element name",
    ),
    (
        "template-string-too-long-expression",
        with_node(http(url="{{ " + "a" * 2001 + " }}")),
        "nodes[1].config.url",
        "over the limit",
    ),
]


@pytest.mark.parametrize(
    ("raw", "path", "fragment"),
    [case[1:] for case in MORE_CASES],
    ids=[case[0] for case in MORE_CASES],
)
def test_more_problems_are_reported_at_their_json_path(raw: Any, path: str, fragment: str) -> None:
    assert_problem_at(raw, path, fragment)


def test_escaped_quotes_inside_template_expressions() -> None:
    raw = definition(
        [trigger(), transform("t", config={"template": "{{ 'it\\'s }}' }}"})], chain("hook", "t")
    )
    compiled = parse_definition(raw).node("t").compiled["template"]
    assert compiled.whole is not None
    assert compiled.whole.source == "'it\\'s }}'"


RESERVED_HEADER_NAMES = [
    "Host",
    "host",
    "Transfer-Encoding",
    "Content-Length",
    "Connection",
    "Upgrade",
    "TE",
    "te",
    "Trailer",
    "Keep-Alive",
    "Proxy-Authorization",
    "proxy-connection",
    "X-MeshHook-Test-Run",
    "x-meshhook-test-run",
    "X-MESHHOOK-ANYTHING",
]


@pytest.mark.parametrize("node_type", ["http_call", "webhook"])
@pytest.mark.parametrize("name", RESERVED_HEADER_NAMES)
def test_reserved_headers_are_refused_at_their_path(node_type: str, name: str) -> None:
    node = {
        "id": "call",
        "type": node_type,
        "config": {"url": "http://x.test", "headers": {"Accept": "*/*", name: "v"}},
    }
    problems = problems_of(with_node(node))
    path = f"nodes[1].config.headers.{name}" if name.isidentifier() else None
    path = path or f'nodes[1].config.headers["{name}"]'
    assert [problem.path for problem in problems] == [path]
    assert f"the {name} header cannot be set by a node" in problems[0].message


@pytest.mark.parametrize("name", ["Bad Name", "a:b", "x\r\ny", ""])
def test_header_names_must_be_tokens(name: str) -> None:
    problems = problems_of(with_node(http(headers={name: "v"})))
    assert len(problems) == 1
    assert problems[0].path.startswith("nodes[1].config.headers")
    assert "is not a valid header name" in problems[0].message


def test_ordinary_headers_pass() -> None:
    headers = {"Authorization": "Bearer {{secrets.T}}", "X-Trace-Id": "1", "Content-Type": "a/b"}
    parse_definition(with_node(http(headers=headers)))


def nested(depth: int, leaf: Any = "{{ a }}") -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


def test_a_template_nested_500_deep_is_a_problem_at_its_path_not_a_crash() -> None:
    problems = problems_of(with_node(transform("deep", config={"template": nested(500)})))
    assert len(problems) == 1
    # The root, `nodes`, the node and its config are levels 1-4; the template starts at 5.
    assert problems[0].path == "nodes[1].config.template" + ".a" * 60
    assert problems[0].message == "the value nests deeper than 64 levels"


def test_nesting_up_to_the_limit_is_accepted_and_the_limit_is_configurable() -> None:
    raw = with_node(transform("deep", config={"template": nested(58)}))
    parse_definition(raw)
    with pytest.raises(DefinitionError) as refused:
        parse_definition(raw, limits=Limits(max_json_depth=10))
    assert refused.value.problems[0].path == "nodes[1].config.template" + ".a" * 6


def test_a_nul_character_in_a_definition_is_a_problem_at_its_path() -> None:
    raw = with_node(http(headers={"X-Note": "a\x00b"}))
    assert problems_of(raw) == [
        Problem('nodes[1].config.headers["X-Note"]', "the value contains a NUL character (\\u0000)")
    ]
    assert problems_of({**raw, "name": "x\x00"}) == [
        Problem("name", "the value contains a NUL character (\\u0000)")
    ]
