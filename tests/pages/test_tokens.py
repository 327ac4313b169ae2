"""The API token page (/tokens/): a new token is shown once; users see and revoke only
their own."""

from __future__ import annotations

import re

import pytest

from meshhook.models import ApiToken
from tests.factories import MEMBERS, Team, make_user
from tests.pages.helpers import text_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("who", [*MEMBERS, "outsider"])
def test_token_page_creates_a_token_and_shows_it_once(team: Team, who: str) -> None:
    client = team.client(who)
    assert client.get("/tokens/").status_code == 200

    posted = client.post("/tokens/", {"name": "CI pipeline"})
    assert posted.status_code == 302  # POST/redirect/GET: a reload cannot create another
    created = client.get(posted["Location"])

    assert created.status_code == 200
    match = re.search(r'id="new-token"[^>]*>(mh_[^<]+)<', created.content.decode())
    assert match
    raw = match.group(1)
    token = ApiToken.objects.get(user=team.user(who))
    assert token.name == "CI pipeline"
    assert token.token_hash != raw
    assert ApiToken.authenticate(raw) == token
    again = client.get("/tokens/").content.decode()
    assert raw not in again
    assert token.prefix in again
    assert "CI pipeline" in again


def test_token_needs_a_name(team: Team) -> None:
    response = team.client("owner").post("/tokens/", {"name": "   "}, follow=True)
    assert response.status_code == 200
    assert "Give the token a name" in text_of(response)
    assert 'id="new-token"' not in response.content.decode()
    assert not ApiToken.objects.exists()


def test_tokens_of_other_users_are_not_listed(team: Team) -> None:
    ApiToken.issue(team.owner, "owner's laptop")
    body = text_of(team.client("editor").get("/tokens/"))
    assert "owner's laptop" not in body


def test_revoke_own_token(team: Team) -> None:
    token, raw = ApiToken.issue(team.editor, "old script")
    client = team.client("editor")

    response = client.post(f"/tokens/{token.id}/revoke/")

    assert response.status_code == 302
    assert response["Location"] == "/tokens/"
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert ApiToken.authenticate(raw) is None
    page = text_of(client.get("/tokens/"))
    assert "revoked" in page
    assert "Token 'old script' revoked." in page
    # Revoking twice is harmless and keeps the first time.
    revoked_at = token.revoked_at
    assert client.post(f"/tokens/{token.id}/revoke/").status_code == 302
    token.refresh_from_db()
    assert token.revoked_at == revoked_at


@pytest.mark.parametrize("who", [*MEMBERS, "outsider"])
def test_revoking_another_users_token_is_404(team: Team, who: str) -> None:
    other = make_user()
    token, raw = ApiToken.issue(other, "theirs")
    assert team.client(who).post(f"/tokens/{token.id}/revoke/").status_code == 404
    assert team.client(who).post("/tokens/999999/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert ApiToken.authenticate(raw) == token


def test_revoke_needs_post(team: Team) -> None:
    token, _ = ApiToken.issue(team.owner, "x")
    assert team.client("owner").get(f"/tokens/{token.id}/revoke/").status_code == 405
    token.refresh_from_db()
    assert token.revoked_at is None
