"""meshhook.strictjson.loads: the JSON the API and the console forms accept, and the JSON path
of whatever it refuses (NUL characters, too deep nesting)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from meshhook import strictjson
from meshhook.engine.limits import MAX_JSON_DEPTH
from meshhook.strictjson import JsonInputError, loads, pretty


def refusal(text: str, **kwargs: Any) -> JsonInputError:
    with pytest.raises(JsonInputError) as refused:
        loads(text, **kwargs)
    return refused.value


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('"\\u0000"', "$"),
        ('{"a": {"b": "x\\u0000y"}}', "a.b"),
        ('{"items": [1, "ok", "\\u0000"]}', "items[2]"),
        ('{"a b": {"k\\u0000": 1}}', '$["a b"]["k\\u0000"]'),
        ('[{"x": ["\\u0000tail"]}]', "[0].x[0]"),
    ],
)
def test_a_nul_character_is_refused_naming_its_path(text: str, path: str) -> None:
    error = refusal(text)
    assert error.path == path
    assert "NUL character (\\u0000)" in str(error)
    assert "cannot be stored" in str(error)
    if path != "$":
        assert f"at {path}" in str(error)


def test_an_escaped_backslash_before_u0000_is_just_text() -> None:
    assert loads('["\\\\u0000"]') == ["\\u0000"]


def nest(depth: int, open_: str = "[", close: str = "]") -> str:
    return open_ * depth + close * depth


def test_nesting_up_to_the_limit_is_accepted() -> None:
    assert MAX_JSON_DEPTH == 64
    value = loads(nest(64))
    depth = 0
    while isinstance(value, list):
        depth += 1
        value = value[0] if value else None
    assert depth == 64
    assert loads(json.dumps({"a": [{"b": [[{"c": 1}]]}]})) == {"a": [{"b": [[{"c": 1}]]}]}


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (nest(65), "[0]" * 64),
        ('{"a":' * 70 + "1" + "}" * 70, "a" + ".a" * 63),
        ('[1, {"x": [2, ' + nest(70) + "]}]", "[1].x[1]" + "[0]" * 61),
        # Deeper than Python's decoder can go at all: the path comes from the text.
        (nest(100_000), "[0]" * 64),
        ('[1, {"x": [2, ' + nest(100_000) + "]}]", "[1].x[1]" + "[0]" * 61),
        ('{"a": "[[[[", "b":' + '{"k": ' * 5000 + "1" + "}" * 5000 + "}", "b" + ".k" * 63),
    ],
    ids=["65", "objects-70", "inside-70", "100000", "inside-100000", "keys-5000"],
)
def test_nesting_deeper_than_the_limit_is_refused_naming_its_path(text: str, path: str) -> None:
    error = refusal(text)
    assert error.path == path
    assert str(error).startswith("Not valid JSON: nested too deeply at ")
    assert str(error).endswith(f"(more than {MAX_JSON_DEPTH} levels).")


def test_the_depth_limit_is_a_parameter() -> None:
    assert refusal(nest(4), max_depth=3).path == "[0][0][0]"
    assert loads(nest(4), max_depth=4) == [[[[]]]]


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = json.dumps(["[" * 200, {"k": "{" * 200}])
    assert loads(text) == ["[" * 200, {"k": "{" * 200}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": NaN}', "NaN is not a JSON value"),
        ('{"a": 1, "a": 2}', "appears twice"),
        ("{oops", "line 1, column 2"),
    ],
)
def test_the_other_refusals_stay_as_they_were(text: str, message: str) -> None:
    error = refusal(text)
    assert message in str(error)
    assert error.path == "$"


def test_pretty_is_kept() -> None:
    assert strictjson.pretty({"a": "é"}) == pretty({"a": "é"}) == '{\n  "a": "é"\n}'
