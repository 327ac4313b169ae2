"""Masking helpers (DESIGN §4, API.md)."""

import base64
import json
from urllib.parse import quote, quote_plus, urlencode

import pytest

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


CANARY = "Enc/Canary+42 x="


def encodings(secret: str) -> dict[str, str]:
    return {
        "url %20": quote(secret, safe=""),
        "url +": quote_plus(secret),
        "url, / kept": quote(secret),
        "url lower-case hex": quote(secret, safe="").lower(),
        "json": json.dumps(secret)[1:-1],
        "json \\/": json.dumps(secret)[1:-1].replace("/", "\\/"),
        "upper": secret.upper(),
        "lower": secret.lower(),
        "base64": base64.b64encode(secret.encode()).decode(),
        "base64 unpadded": base64.b64encode(secret.encode()).decode().rstrip("="),
        "base64 url-safe": base64.urlsafe_b64encode(secret.encode()).decode(),
    }


@pytest.mark.parametrize("form", list(encodings(CANARY)))
def test_common_encodings_of_a_secret_are_masked_in_messages_errors_and_dicts(form: str) -> None:
    encoded = encodings(CANARY)[form]
    value = {
        "message": f"POST https://x.test/?q={encoded} → 200",
        "error": f"HTTPError: bad value {encoded!r}",
        "nested": {"list": [encoded], encoded: "as a key"},
    }
    masked = mask_secrets(value, [CANARY])
    text = json.dumps(masked, ensure_ascii=False)
    assert encoded not in text
    assert "canary" not in text.lower()
    assert masked["message"] == f"POST https://x.test/?q={MASK} → 200"
    assert masked["nested"] == {"list": [MASK], MASK: "as a key"}


def test_a_json_document_and_a_query_string_carrying_the_secret_lose_every_form() -> None:
    body = json.dumps({"token": CANARY, "quoted": f'say "{CANARY}"\n'})
    query = urlencode({"a": CANARY, "b": CANARY.upper()})
    masked = mask_secrets([body, query], [CANARY])
    assert "anary" not in json.dumps(masked).lower()


@pytest.mark.parametrize("prefix", ["", "u:", "us:", "user:", "a-much-longer-user-name:"])
def test_base64_of_a_value_containing_the_secret_hides_the_secret(prefix: str) -> None:
    # As in Authorization: Basic base64(user:secret), echoed by a server in a body.
    encoded = base64.b64encode(f"{prefix}{CANARY}".encode()).decode()
    masked = mask_secrets(f"Basic {encoded}", [CANARY])
    before, after = masked.removeprefix("Basic ").split(MASK)
    # Left visible: the prefix's own characters and at most one 4-character group on either
    # side that mixes the prefix or padding with the secret's first or last bytes.
    assert len(before) <= len(prefix) // 3 * 4 + 4
    assert len(after) <= 4


def test_short_secrets_keep_base64_look_alikes_in_longer_values() -> None:
    # Only the secret's own base64 is masked for secrets shorter than 8 bytes: their
    # cores inside longer base64 would match unrelated data by chance.
    own = base64.b64encode(b"abc").decode()
    assert mask_secrets(f"x {own} y", ["abc"]) == f"x {MASK} y"
    longer = base64.b64encode(b"user:abc").decode()
    assert mask_secrets(longer, ["abc"]) == longer


def test_non_ascii_secrets_are_masked_escaped_and_encoded() -> None:
    secret = "pässwörd-ß"
    forms = [secret, json.dumps(secret)[1:-1], quote(secret), secret.upper()]
    assert mask_secrets(forms, [secret]) == [MASK] * 4
