"""Templates (DESIGN §2): context roots, type preservation, strict and non-strict nulls."""

from typing import Any

from meshhook.engine import ExecutionContext, parse_definition
from meshhook.engine.templates import TemplateString

from .helpers import build, chain, definition, run, template, trigger


def render(value: Any, payload: Any = None, strict: bool = True, **run_fields: Any) -> Any:
    workflow = build(
        [trigger(), template("t", value, input="body")],
        chain("hook", "t"),
        settings={"strict_templates": strict},
    )
    _result, records, outcomes = run(workflow, payload, **run_fields)
    return records["t"].output if records["t"].status == "succeeded" else outcomes[1]


def test_templates_are_compiled_once_at_parse_time() -> None:
    workflow = parse_definition(
        definition([trigger(), template("t", {"a": ["x {{ b }}"]})], chain("hook", "t"))
    )
    compiled = workflow.node("t").compiled["template"]["a"][0]
    assert isinstance(compiled, TemplateString)
    assert compiled.parts[0] == "x "


def test_a_whole_string_template_keeps_the_json_type() -> None:
    payload = {"n": 3, "f": 1.5, "ok": True, "obj": {"k": [1]}, "list": [1, 2]}
    assert (
        render(
            {
                "n": "{{ n }}",
                "f": "{{f}}",
                "ok": "{{ ok }}",
                "obj": "{{ obj }}",
                "list": "{{ list }}",
            },
            payload,
        )
        == payload
    )


def test_inside_a_longer_string_values_are_json_text() -> None:
    payload = {"n": 3, "ok": False, "obj": {"k": "v"}, "list": [1, "a"], "s": "plain"}
    assert (
        render("{{n}}|{{ok}}|{{obj}}|{{list}}|{{s}}", payload) == '3|false|{"k":"v"}|[1,"a"]|plain'
    )


def test_templates_work_in_nested_dicts_and_lists() -> None:
    assert render({"a": [{"b": "<{{ x }}>"}]}, {"x": 1}) == {"a": [{"b": "<1>"}]}


def test_context_has_every_reserved_root() -> None:
    value = {
        "input": "{{ input }}",
        "trigger": "{{ trigger.body }}",
        "steps": "{{ steps.hook.status }}",
        "env": "{{ env.REGION }}",
        "secret": "{{ secrets.KEY }}",
        "run": "{{ run }}",
    }
    output = render(
        value,
        {"a": 1},
        env={"REGION": "eu"},
        secrets={"KEY": "s3cr3t"},
        run_id="r-9",
        environment="ci",
    )
    assert output == {
        "input": {"a": 1},
        "trigger": {"a": 1},
        "steps": "succeeded",
        "env": "eu",
        "secret": "s3cr3t",
        "run": {"id": "r-9", "environment": "ci", "test": True},
    }


def test_reserved_roots_win_over_input_keys() -> None:
    payload = {"env": "from input", "run": "from input", "plain": "kept"}
    output = render(
        {"env": "{{ env }}", "run": "{{ run.test }}", "plain": "{{ plain }}"},
        payload,
        env={"A": "1"},
    )
    assert output == {"env": {"A": "1"}, "run": True, "plain": "kept"}


def test_input_keys_are_only_merged_when_the_input_is_an_object() -> None:
    assert render("{{ input[1] }}", [10, 20]) == 20


def test_steps_root_exposes_status_and_error() -> None:
    workflow = build(
        [
            trigger(),
            {
                "id": "bad",
                "type": "transform",
                "config": {"expression": "length(body)"},
                "on_error": "continue",
            },
            template("t", {"status": "{{ steps.bad.status }}", "error": "{{ steps.bad.error }}"}),
        ],
        chain("hook", "bad", "t"),
    )
    _, records, _ = run(workflow, 1)
    assert records["t"].output["status"] == "failed"
    assert "length()" in records["t"].output["error"]


def test_strict_templates_fail_the_step_naming_the_expression() -> None:
    outcome = render({"email": "{{ contact.email }}"}, {"contact": {}})
    assert outcome.status == "failed"
    assert (
        outcome.error
        == "config.template: template {{ contact.email }} yielded null (strict templates are on)"
    )


def test_non_strict_null_renders_empty_and_logs_a_warning() -> None:
    workflow = build(
        [trigger(), template("t", {"text": "hi {{ name }}!", "whole": "{{ name }}"}, input="body")],
        chain("hook", "t"),
        settings={"strict_templates": False},
    )
    _, records, outcomes = run(workflow, {})
    assert records["t"].output == {"text": "hi !", "whole": None}
    warnings = [e for e in outcomes[1].events if e.type == "log" and e.level == "warning"]
    assert [w.message for w in warnings] == [
        "template {{ name }} yielded null; rendered as empty (strict templates are off).",
        "template {{ name }} yielded null; rendered as empty (strict templates are off).",
    ]


def test_a_failing_template_expression_fails_the_step() -> None:
    outcome = render("{{ length(n) }}", {"n": 5})
    assert outcome.status == "failed"
    assert "template {{ length(n) }}: expression 'length(n)' failed" in outcome.error


def test_strings_without_templates_are_left_alone() -> None:
    assert render({"a": "no braces", "b": "single { brace }"}, {}) == {
        "a": "no braces",
        "b": "single { brace }",
    }


def test_jmespath_literals_with_braces_render() -> None:
    assert render("{{ {a: `\"}}\"`, b: 'x}}'} }}", {}) == {"a": "}}", "b": "x}}"}


def test_templates_render_in_http_config_before_sending(httpserver: Any) -> None:
    httpserver.expect_request("/items/7", query_string="q=7").respond_with_json({"ok": 1})
    workflow = build(
        [
            trigger(),
            {
                "id": "get",
                "type": "http_call",
                "config": {
                    "url": httpserver.url_for("/items/{{ body.id }}"),
                    "query": {"q": "{{ body.id }}"},
                },
            },
        ],
        chain("hook", "get"),
    )
    result, records, _ = run(workflow, {"id": 7}, ExecutionContext())
    assert result.status == "passed"
    assert records["get"].output["data"] == {"ok": 1}
