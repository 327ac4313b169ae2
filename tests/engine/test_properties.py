"""Property tests: parsing never crashes; valid DAGs always finish, deterministically."""

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshhook.engine import NODE_TYPES, DefinitionError, parse_definition

from .helpers import definition, run

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
node_types = st.sampled_from([*NODE_TYPES, "nope"])
node_like = st.fixed_dictionaries(
    {"id": st.sampled_from(["a", "b", "c", "hook", "x y"]), "type": node_types},
    optional={
        "config": json_values
        | st.dictionaries(
            st.sampled_from(["url", "expression", "condition", "items", "status", "template"]),
            json_values | st.sampled_from(["{{ a }}", "{{", "a.b", "{{ }}", "success"]),
            max_size=3,
        ),
        "parent": json_values | st.sampled_from(["a", "b"]),
        "input": json_values,
        "retry": json_values,
        "on_error": json_values,
    },
)
definition_like = st.fixed_dictionaries(
    {},
    optional={
        "schema_version": json_values | st.just(1),
        "name": json_values,
        "slug": json_values | st.just("ok"),
        "settings": json_values,
        "nodes": json_values | st.lists(node_like, max_size=5),
        "edges": json_values
        | st.lists(
            st.fixed_dictionaries(
                {
                    "source": st.sampled_from(["a", "b", "c", "hook"]),
                    "target": st.sampled_from(["a", "b", "c", "hook"]),
                },
                optional={"when": json_values | st.sampled_from(["true", "false"])},
            ),
            max_size=5,
        ),
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values | definition_like)
def test_arbitrary_json_only_ever_raises_definition_error(raw: Any) -> None:
    problems = []
    try:
        parse_definition(raw)
    except DefinitionError as exc:
        problems = exc.problems
        if not problems:
            raise
    assert all(problem.path and problem.message for problem in problems)


@st.composite
def dags(draw: st.DrawFn) -> dict[str, Any]:
    """A trigger and up to 8 transform/branch/terminate nodes; edges only go forward."""
    count = draw(st.integers(min_value=1, max_value=8))
    nodes: list[dict[str, Any]] = [{"id": "hook", "type": "webhook_trigger"}]
    for index in range(count):
        kind = draw(st.sampled_from(["transform", "transform", "branch", "terminate"]))
        node_id = f"n{index}"
        if kind == "transform":
            expression = draw(
                st.sampled_from(["@", "body", "body.n", "length(@)", "to_string(@)", "`[1, 2]`"])
            )
            node: dict[str, Any] = {
                "id": node_id,
                "type": kind,
                "config": {"expression": expression},
            }
        elif kind == "branch":
            condition = draw(
                st.sampled_from(["body.n > `5`", "@", "body.flag", "contains(keys(@), 'body')"])
            )
            node = {"id": node_id, "type": kind, "config": {"condition": condition}}
        else:
            status = draw(st.sampled_from(["success", "failure", "cancelled"]))
            node = {
                "id": node_id,
                "type": kind,
                "config": {"status": status, "output": {"at": node_id}},
            }
        if draw(st.booleans()):
            node["on_error"] = "continue"
        nodes.append(node)
    edges = []
    for target in range(1, len(nodes)):
        sources = draw(st.sets(st.integers(min_value=0, max_value=target - 1), max_size=3))
        for source in sorted(sources):
            source_node = nodes[source]
            if source_node["type"] == "terminate":
                continue
            edge: dict[str, Any] = {"source": source_node["id"], "target": nodes[target]["id"]}
            if source_node["type"] == "branch":
                edge["when"] = draw(st.sampled_from(["true", "false"]))
            edges.append(edge)
    return definition(draw(st.permutations(nodes)), edges)


payloads = st.fixed_dictionaries({"n": st.integers(0, 10), "flag": st.booleans()}) | json_scalars


@settings(max_examples=60, deadline=None)
@given(dags(), payloads)
def test_valid_dags_finish_deterministically(raw: dict[str, Any], payload: Any) -> None:
    workflow = parse_definition(raw)
    first = run(workflow, payload)
    second = run(workflow, payload)
    result, records, outcomes = first
    assert result.status in ("passed", "failed", "cancelled")
    assert set(records) == {node["id"] for node in raw["nodes"]}
    assert all(record.status in ("succeeded", "failed", "skipped") for record in records.values())
    assert result == second[0]
    assert records == second[1]
    assert [(o.node_id, o.status, o.output) for o in outcomes] == [
        (o.node_id, o.status, o.output) for o in second[2]
    ]
    ran = [o.node_id for o in outcomes]
    assert ran == [node_id for node_id in workflow.order if node_id in ran]
