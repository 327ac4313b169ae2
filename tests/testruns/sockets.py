"""Websocket clients for the consumer tests: the real ASGI application (origin check, session
auth, routing), logged in with a real session cookie.

Take the cookie before the async part of a test: logging in touches the database."""

from __future__ import annotations

from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from meshhook.asgi import application
from testruns.models import TestRun

HISTORY = "/ws/test-runs/"


def session_cookie(user: User) -> bytes:
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}".encode()


def socket_to(path: str, cookie: bytes | None) -> WebsocketCommunicator:
    """A socket to `path` from a same-origin page; no cookie: not logged in."""
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if cookie is not None:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, path, headers=headers)


def run_socket(run: TestRun, cookie: bytes | None) -> WebsocketCommunicator:
    """The live view's socket for `run`."""
    return socket_to(f"/ws/test-runs/{run.id}/", cookie)
