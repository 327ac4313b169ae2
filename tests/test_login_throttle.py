"""Login throttling (django-axes): repeated failed logins for one username from one address
lock that pair out with 429; other users and force_login are unaffected."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from tests.factories import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def login(client: Client, username: str, password: str) -> int:
    return client.post("/login/", {"username": username, "password": password}).status_code


def test_the_configured_limits() -> None:
    assert settings.AXES_ENABLED
    assert settings.AXES_FAILURE_LIMIT == 10
    assert settings.AXES_COOLOFF_TIME == 0.25
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]


def test_the_login_page_locks_out_after_the_failure_limit() -> None:
    make_user("ada", PASSWORD)
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, "ada", "wrong") == 200  # the form again, with its error
    assert login(client, "ada", "wrong") == 429
    # Locked out: even the right password is refused now.
    assert login(client, "ada", PASSWORD) == 429
    assert "_auth_user_id" not in client.session
    # Another user from the same address is not locked out.
    make_user("grace", PASSWORD)
    assert login(Client(), "grace", PASSWORD) == 302


def test_a_successful_login_still_works_and_resets_the_failures() -> None:
    make_user("ada", PASSWORD)
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login(client, "ada", "wrong")
    assert login(client, "ada", PASSWORD) == 302
    client.logout()
    assert login(client, "ada", "wrong") == 200


def test_force_login_is_not_affected() -> None:
    user = make_user("ada", PASSWORD)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(Client(), "ada", "wrong")
    client = Client()
    client.force_login(user)
    assert client.get("/").status_code in (200, 302)
