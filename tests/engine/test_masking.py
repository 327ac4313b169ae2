"""Masking helpers (DESIGN §4, API.md)."""

from meshhook.engine import MASK, mask_headers, mask_secrets


def test_mask_secrets_replaces_values_inside_any_string() -> None:
    value = {"a": "token=abc123!", "list": ["abc123", 5, None, True], "abc123": ("x abc123",)}
    assert mask_secrets(value, ["abc123"]) == {
        "a": f"token={MASK}!",
        "list": [MASK, 5, None, True],
        MASK: [f"x {MASK}"],
    }


def test_longer_secrets_are_masked_whole_and_empty_ones_ignored() -> None:
    assert mask_secrets("pass-word-long", ["pass", "pass-word-long", ""]) == MASK


def test_no_secrets_returns_the_value_unchanged() -> None:
    value = {"a": 1}
    assert mask_secrets(value, []) is value


def test_mask_headers() -> None:
    headers = {
        "Authorization": "Bearer x",
        "proxy-authorization": "x",
        "Cookie": "a=b",
        "Set-Cookie": "a=b",
        "X-API-Key": "k",
        "Api-Key": "k",
        "X-Auth-Token": "t",
        "X-Client-Secret": "s",
        "X-Refresh-Token": "t",
        "X-My-Api-Key-Id": "k",
        "Content-Type": "application/json",
        "Accept": "*/*",
    }
    masked = mask_headers(headers)
    assert [name for name, value in masked.items() if value != MASK] == ["Content-Type", "Accept"]
