"""The bench's user, token, session and workflows, made the way a user makes them where
that is part of what is measured: `manage.py create_api_token`, the login form and
`POST /api/workflows`."""

from __future__ import annotations

import logging
import os
import secrets
from typing import Any

import httpx

from bench.client import Credentials, log_in
from bench.config import Services, Sizes
from bench.context import CHAIN, CHAIN_LONG, FIVE, FIVE_RSS, FLOOD, USERNAME
from bench.definitions import event_flood, transform_chain
from bench.stack import Stack, child_env, manage
from bench.stats import BenchError


def configure_django(services: Services) -> None:
    """Django in the bench process itself, on the bench database: for the checks that read
    rows directly (finished times, the deep cursor) and the in-process extra rows."""
    os.environ.update(child_env(services))
    os.environ["DB_CONN_MAX_AGE"] = "0"
    import django

    django.setup()
    for name in ("rq", "rq.worker", "rq.queue", "rq.job"):
        logging.getLogger(name).setLevel(logging.WARNING)


def make_user(services: Services, stack: Stack) -> Credentials:
    """A superuser (the admin changelist is one of the figures) with a personal project,
    an API token from `manage.py create_api_token`, and a session from the login form."""
    from django.contrib.auth import get_user_model

    password = secrets.token_urlsafe(16)
    get_user_model()._default_manager.db_manager().create_superuser(
        USERNAME, "bench@example.com", password
    )
    token = manage(services, "create_api_token", USERNAME, "--name", "bench").strip()
    return Credentials(token=token, cookie=log_in(stack.base_url, USERNAME, password))


def definitions(sizes: Sizes) -> list[dict[str, Any]]:
    return [
        transform_chain(sizes.transforms, CHAIN),
        transform_chain(sizes.transforms_long, CHAIN_LONG),
        event_flood(sizes.events_body, FLOOD),
        transform_chain(4, FIVE),
        transform_chain(4, FIVE_RSS),
    ]


def create_workflows(stack: Stack, credentials: Credentials, sizes: Sizes) -> None:
    headers = {"Authorization": f"Bearer {credentials.token}"}
    with httpx.Client(base_url=stack.base_url, headers=headers, timeout=60) as client:
        for definition in definitions(sizes):
            answer = client.post("/api/workflows", json=definition)
            if answer.status_code != 201:
                raise BenchError(f"POST /api/workflows: {answer.status_code} {answer.text[:500]}")
