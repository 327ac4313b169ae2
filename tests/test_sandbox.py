"""The built-in sandbox (/sandbox/...): what demos and tests rely on it to answer.

No database marks: the sandbox must work without touching the database.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import django_rq
import pytest
from asgiref.sync import async_to_sync
from defusedxml import ElementTree
from django.test import AsyncClient, Client


@pytest.fixture
def strict_client() -> Client:
    # CSRF checks on, as in a real server: the sandbox must be callable without a token.
    return Client(enforce_csrf_checks=True)


def unique_key() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def test_echo_reflects_a_get(strict_client: Client) -> None:
    response = strict_client.get(
        "/sandbox/echo?page=2&tag=a&tag=b", headers={"X-Request-Id": "abc-123"}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["method"] == "GET"
    assert body["path"] == "/sandbox/echo"
    assert body["query"] == {"page": "2", "tag": ["a", "b"]}
    assert body["headers"]["x-request-id"] == "abc-123"
    assert all(name == name.lower() for name in body["headers"])
    assert body["json"] is None
    assert body["body"] is None


def test_echo_parses_a_json_body_under_a_sub_path(strict_client: Client) -> None:
    response = strict_client.post(
        "/sandbox/echo/slack/sales", {"text": "hi", "n": [1, 2]}, content_type="application/json"
    )

    body = response.json()
    assert response.status_code == 200
    assert body["method"] == "POST"
    assert body["path"] == "/sandbox/echo/slack/sales"
    assert body["json"] == {"text": "hi", "n": [1, 2]}
    assert body["body"] is None
    assert body["headers"]["content-type"] == "application/json"


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_echo_keeps_a_non_json_body_as_text(strict_client: Client, method: str) -> None:
    xml = "<order><id>7</id></order>"

    response = getattr(strict_client, method)("/sandbox/echo", xml, content_type="application/xml")

    body = response.json()
    assert body["method"] == method.upper()
    assert body["json"] is None
    assert body["body"] == xml


@pytest.mark.parametrize("code", [200, 201, 404, 418, 502, 599])
def test_status_answers_with_the_requested_code(strict_client: Client, code: int) -> None:
    response = strict_client.post(f"/sandbox/status/{code}")

    assert response.status_code == code
    assert response.json() == {"status": code}


@pytest.mark.parametrize("code", [99, 600, 0, 1000])
def test_status_refuses_codes_outside_100_to_599(strict_client: Client, code: int) -> None:
    response = strict_client.get(f"/sandbox/status/{code}")

    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "code"


@pytest.mark.parametrize("code", [204, 304])
def test_status_without_a_body_where_http_forbids_one(strict_client: Client, code: int) -> None:
    response = strict_client.get(f"/sandbox/status/{code}")

    assert response.status_code == code
    assert response.content == b""


def test_delay_waits_then_answers(strict_client: Client) -> None:
    response = strict_client.get("/sandbox/delay/20")

    assert response.status_code == 200
    assert response.json() == {"delayed_ms": 20}


def test_delay_answers_through_the_asgi_handler_too() -> None:
    # The view is async; daphne serves it natively, the live server through WSGI.
    response = async_to_sync(AsyncClient().get)("/sandbox/delay/5")

    assert response.status_code == 200
    assert response.json() == {"delayed_ms": 5}


def test_delay_is_capped_at_30_seconds(
    strict_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    waited: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)

    response = strict_client.get("/sandbox/delay/600000")

    assert response.json() == {"delayed_ms": 30_000}
    assert waited == [30.0]


def test_flaky_fails_n_times_then_succeeds(strict_client: Client) -> None:
    key = unique_key()

    answers = [strict_client.get(f"/sandbox/flaky/{key}/2") for _ in range(4)]

    assert [answer.status_code for answer in answers] == [503, 503, 200, 200]
    assert answers[0].json()["calls"] == 1
    assert answers[2].json() == {"key": key, "calls": 3}
    assert answers[3].json() == {"key": key, "calls": 4}


def test_flaky_counts_in_redis_with_an_expiry(strict_client: Client) -> None:
    key = unique_key()
    redis = django_rq.get_connection("default")

    strict_client.post(f"/sandbox/flaky/{key}/1")

    # Another process (the web server, a worker) sees the same counter.
    assert redis.get(f"sandbox:flaky:{key}") == b"1"
    assert 0 < redis.ttl(f"sandbox:flaky:{key}") <= 3600
    redis.set(f"sandbox:flaky:{key}", 5)
    assert strict_client.post(f"/sandbox/flaky/{key}/1").json()["calls"] == 6


def test_flaky_keys_are_independent(strict_client: Client) -> None:
    first, second = unique_key(), unique_key()

    strict_client.get(f"/sandbox/flaky/{first}/1")

    assert strict_client.get(f"/sandbox/flaky/{second}/1").status_code == 503
    assert strict_client.get(f"/sandbox/flaky/{first}/1").status_code == 200


@pytest.mark.parametrize("method", ["post", "delete"])
def test_flaky_reset_starts_the_count_again(strict_client: Client, method: str) -> None:
    key = unique_key()
    strict_client.get(f"/sandbox/flaky/{key}/1")
    assert strict_client.get(f"/sandbox/flaky/{key}/1").status_code == 200

    reset = getattr(strict_client, method)(f"/sandbox/flaky/{key}/reset")

    assert reset.status_code == 200
    assert reset.json() == {"key": key, "calls": 0}
    assert strict_client.get(f"/sandbox/flaky/{key}/1").status_code == 503


def test_flaky_reset_needs_post_or_delete(strict_client: Client) -> None:
    assert strict_client.get(f"/sandbox/flaky/{unique_key()}/reset").status_code == 405


def test_flaky_refuses_odd_keys(strict_client: Client) -> None:
    response = strict_client.get("/sandbox/flaky/has%20space/1")

    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "key"


def test_rss_is_a_small_rss2_feed(strict_client: Client) -> None:
    response = strict_client.get("/sandbox/rss.xml")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/rss+xml")
    root = ElementTree.fromstring(response.content)
    assert root.tag == "rss"
    assert root.get("version") == "2.0"
    items = root.findall("./channel/item")
    assert len(items) == 3
    for item in items:
        for field in ("title", "link", "guid", "pubDate", "category"):
            assert (item.findtext(field) or "").strip(), field
    assert items[0].findtext("guid") == items[0].findtext("link")


def test_rss_is_the_same_every_time(strict_client: Client) -> None:
    assert (
        strict_client.get("/sandbox/rss.xml").content
        == strict_client.get("/sandbox/rss.xml").content
    )


def test_contacts_creates_a_contact(strict_client: Client) -> None:
    lead: dict[str, Any] = {"email": "ada@example.com", "name": "Ada"}

    response = strict_client.post("/sandbox/contacts", lead, content_type="application/json")

    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "ada@example.com"
    assert body["name"] == "Ada"
    assert body["created"] is True
    assert body["id"].startswith("ct_")


def test_contacts_gives_the_same_email_the_same_id(strict_client: Client) -> None:
    def create(email: str) -> str:
        response = strict_client.post(
            "/sandbox/contacts", json.dumps({"email": email}), content_type="application/json"
        )
        return str(response.json()["id"])

    assert create("grace@example.com") == create("Grace@Example.com ")
    assert create("grace@example.com") != create("ada@example.com")


@pytest.mark.parametrize("body", [{"name": "No Email"}, {"email": ""}, {"email": 42}])
def test_contacts_needs_an_email(strict_client: Client, body: dict[str, Any]) -> None:
    response = strict_client.post("/sandbox/contacts", body, content_type="application/json")

    assert response.status_code == 422
    assert response.json()["errors"] == [{"path": "email", "message": "email is required."}]


@pytest.mark.parametrize("raw", ["not json", "[1, 2]"])
def test_contacts_needs_a_json_object(strict_client: Client, raw: str) -> None:
    response = strict_client.post("/sandbox/contacts", raw, content_type="application/json")

    assert response.status_code == 400
    assert "error" in response.json()


def test_contacts_only_accepts_post(strict_client: Client) -> None:
    assert strict_client.get("/sandbox/contacts").status_code == 405
