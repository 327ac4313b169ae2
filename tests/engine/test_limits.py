"""meshhook.engine.limits: the depth limit and what cannot be stored, with JSON paths."""

from __future__ import annotations

from typing import Any

import pytest

from meshhook.engine.limits import MAX_JSON_DEPTH, Limits, too_deep, unstorable


def arrays(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_the_default_depth_limit_is_64() -> None:
    assert MAX_JSON_DEPTH == Limits().max_json_depth == 64


def test_nesting_up_to_the_limit_is_fine_and_one_more_is_not() -> None:
    assert unstorable(arrays(64)) is None
    assert unstorable(arrays(65)) == ("[0]" * 64, "nests deeper than 64 levels")
    assert too_deep(arrays(65)) == "[0]" * 64
    assert too_deep({"a": [1, {"b": arrays(3)}]}, max_depth=4) == "a[1].b[0]"
    assert too_deep({"a": [1, {"b": [2]}]}, max_depth=4) is None


def test_any_depth_is_safe_to_ask_about() -> None:
    assert too_deep(arrays(50_000)) == "[0]" * 64


@pytest.mark.parametrize(
    ("value", "path", "why"),
    [
        ("a\x00", "$", "contains a NUL character (\\u0000)"),
        ({"a": {"b": "x\x00y"}}, "a.b", "contains a NUL character (\\u0000)"),
        (
            {"a b": [1, {"k\x00": 1}]},
            '$["a b"][1]["k\\u0000"]',
            "has a NUL character (\\u0000) in its name",
        ),
        (("t", ["\x00"]), "[1][0]", "contains a NUL character (\\u0000)"),
    ],
)
def test_nul_characters_are_found_in_keys_and_values(value: Any, path: str, why: str) -> None:
    assert unstorable(value) == (path, why)
    assert unstorable(value, nul=False) is None


@pytest.mark.parametrize("value", [None, 1, 2.5, True, "text", {"a": [1, "b", None]}, []])
def test_plain_json_is_storable(value: Any) -> None:
    assert unstorable(value) is None
