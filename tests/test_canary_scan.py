"""A canary scan: an environment secret and a typed `Authorization` header, sent by a workflow
in a URL query, a header and a body to a server that echoes them back in every encoding, are
sent for real and found nowhere afterwards, after the run and a re-run: not in any text or
JSON column of any model (raw SQL), any frame of the live socket, the API, the console pages,
the admin, or the process logs (every logger at DEBUG while the worker runs in-process, as
the console handler would print them).

tests/test_credential_headers.py covers the typed header alone; this adds the environment
secret and the encodings, and reuses its helpers.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.apps import apps
from django.conf import settings
from django.db import connection, models
from django.test import Client
from django.urls import reverse
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from meshhook.engine import MASK, mask_secrets
from meshhook.logfilters import DropQueryString
from meshhook.models import Environment, Workflow
from testruns.models import RunEvent, StepRun, TestRun
from tests.api.helpers import send
from tests.factories import Team, allow_server, make_secret_environments, make_workflow
from tests.test_credential_headers import _base64, api_start, chain
from tests.testruns.sockets import run_socket, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

# Quotes, a slash, a space and a plus: its URL-encoded and JSON-escaped forms differ from it.
SECRET = 'canary-SECRET-9f3a "q"/ +x'
TYPED = "canary-TYPED-7c21"
AUTHORIZATION = f"Bearer {TYPED}"
# Markers: no form of a canary but base64 can show it without one of these (any case); the
# secrets of make_secret_environments are never used by the run, and never shown either.
MARKERS = ("canary-secret-9f3a", "canary-typed-7c21", "s3cr3t-value", "production-secret-value")
SEQ = re.compile(r'class="log-line[^"]*" data-seq="(\d+)"')  # a log line the socket pushed


def encodings(value: str) -> dict[str, str]:
    """The forms the echo server sends `value` back in."""
    return {
        "plain": value,
        "upper": value.upper(),
        "lower": value.lower(),
        "url": quote(value, safe=""),
        "url_plus": quote_plus(value),
        "json": json.dumps(value)[1:-1],
        "base64": base64.b64encode(value.encode()).decode(),
        "base64_url": base64.urlsafe_b64encode(value.encode()).decode(),
        # As in a Basic Authorization header: the value as the password of a user.
        "basic": base64.b64encode(f"ada:{value}".encode()).decode(),
    }


CANARIES = (SECRET, TYPED, AUTHORIZATION)
BASE64_KINDS = ("base64", "base64_url", "basic")
# Case does not matter for these (`%2f` is `%2F`); base64 is matched as it is.
TEXT_FORMS = {f for c in CANARIES for kind, f in encodings(c).items() if kind not in BASE64_KINDS}
BASE64_FORMS = set().union(*(_base64(c) for c in CANARIES)) | {
    encodings(c)[kind] for c in CANARIES for kind in BASE64_KINDS
}


def leaks(text: str) -> list[str]:
    lowered = text.lower()
    found = [marker for marker in MARKERS if marker in lowered]
    found += [form for form in TEXT_FORMS if form.lower() in lowered]
    return found + [form for form in BASE64_FORMS if form in text]


# --- the workflow and the echo server -------------------------------------------------------


def canary_chain(base_url: str) -> dict[str, Any]:
    """`chain` (hook → shape → call → check → ok | alert), its call sending the secret and the
    typed header in the query, in headers and in the body."""
    document = chain(base_url)
    call = next(node for node in document["nodes"] if node["id"] == "call")
    typed, secret = "{{ trigger.headers.authorization }}", "{{ secrets.CANARY }}"
    call["config"]["query"] = {"key": secret, "auth": typed}
    call["config"]["headers"] = {"Authorization": typed, "X-Secret": secret}
    call["config"]["body"] = {"secret": secret, "typed": typed, "name": "{{ name }}"}
    return document


@pytest.fixture
def received() -> list[dict[str, Any]]:
    """What the server got, request by request."""
    return []


@pytest.fixture
def workflow(team: Team, httpserver: HTTPServer, received: list[dict[str, Any]]) -> Workflow:
    def echo(request: Request) -> Response:
        got = {
            "args": request.args.to_dict(),
            "authorization": request.headers.get("Authorization", ""),
            "secret": request.headers.get("X-Secret", ""),
            "body": request.get_json(),
        }
        received.append(got)
        body = {
            "raw_query": request.query_string.decode(),
            "raw_body": request.get_data(as_text=True),
            "got": got,
            "forms": {name: encodings(got[name]) for name in ("authorization", "secret")},
        }
        headers = {"X-Echo": quote(got["secret"], safe=""), "X-Echo-Auth": got["authorization"]}
        return Response(json.dumps(body), content_type="application/json", headers=headers)

    httpserver.expect_request("/items").respond_with_handler(echo)
    base = httpserver.url_for("").rstrip("/")
    environment = allow_server(team.project, base)
    environment.set_secrets({"CANARY": SECRET})
    environment.save()
    make_secret_environments(team.project)  # a production secret no run may read
    return make_workflow(team.project, canary_chain(base), user=team.owner)


# --- what the processes print ---------------------------------------------------------------


LOGGING: dict[str, Any] = settings.LOGGING

# The echo server (pytest-httpserver, in this process) logs its requests through werkzeug:
# the other side's log, not ours.
REMOTE_LOGGERS = ("werkzeug",)


class ConfiguredLevels(logging.Filter):
    """Passes what the configured process would print with LOG_LEVEL=DEBUG: a record at or
    above the level its logger (or the nearest ancestor with one) was set to before the test
    put every logger at DEBUG, e.g. httpx and httpcore at WARNING (settings.LOGGING)."""

    def __init__(self, levels: dict[str, int]) -> None:
        super().__init__()
        self.levels = levels

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.split(".")[0] in REMOTE_LOGGERS:
            return False
        name = record.name
        while name:
            if self.levels.get(name):
                return record.levelno >= self.levels[name]
            name = name.rpartition(".")[0]
        return True


@pytest.fixture
def printed_logs(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """Every logger at DEBUG while the test runs (caplog keeps every record), and what the
    console handler of settings.LOGGING would print at LOG_LEVEL=DEBUG: its format, its
    query-dropping filter and the levels settings give single loggers."""
    levels = {
        name: logger.level
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    printed = io.StringIO()
    handler = logging.StreamHandler(printed)
    handler.setFormatter(logging.Formatter(LOGGING["formatters"]["plain"]["format"]))
    handler.addFilter(ConfiguredLevels(levels))
    handler.addFilter(DropQueryString())
    for name in ["", *levels]:
        caplog.set_level(logging.DEBUG, logger=name)  # restored after the test
    logging.getLogger().addHandler(handler)
    try:
        yield printed
    finally:
        logging.getLogger().removeHandler(handler)


# --- where the canaries must not be ---------------------------------------------------------


def as_text(value: object) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode(errors="replace")
    return str(value)


def database_leaks() -> dict[str, list[str]]:
    """Every text or JSON column of every model (and many-to-many table), read with raw SQL."""
    found: dict[str, list[str]] = {}
    text_fields = (models.CharField, models.TextField, models.JSONField, models.BinaryField)
    with connection.cursor() as cursor:
        for model in apps.get_models(include_auto_created=True):
            columns = [
                field.column
                for field in model._meta.concrete_fields
                if isinstance(field, text_fields)
            ]
            if not columns:
                continue
            table = connection.ops.quote_name(model._meta.db_table)
            names = ", ".join(connection.ops.quote_name(column) for column in columns)
            cursor.execute(f"SELECT {names} FROM {table}")
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    text = as_text(value)
                    if leaks(text):
                        found[f"{model._meta.db_table}.{column}"] = leaks(text)
    return found


def api_paths(team: Team, runs: list[TestRun]) -> list[str]:
    paths = [team.url("/api/test-runs")]
    for run in runs:
        base = f"/api/test-runs/{run.id}"
        paths += [base, f"{base}/events", f"{base}/export"]
    return paths


def page_paths(team: Team, runs: list[TestRun]) -> list[str]:
    pages = [f"/test-runs/?workflow={runs[0].workflow.slug}"]
    pages.append(f"/test-runs/compare/?run={runs[0].id}&run={runs[-1].id}")
    for run in runs:
        base = f"/test-runs/{run.id}"
        pages += [f"{base}/", f"{base}/log/", f"{base}/updates/?after=0"]
        pages += [f"{base}/values/{part}/" for part in ("parameters", "result")]
        pages.append(team.url("/workflows/chain/test-run/") + f"&from_run={run.id}")
        for step in StepRun.objects.filter(run=run):
            pages += [f"{base}/steps/{step.pk}/"]
            pages += [f"{base}/steps/{step.pk}/{p}/" for p in ("input", "output", "config")]
            for number in range(1, len(step.http or []) + 1):
                exchange = f"{base}/steps/{step.pk}"
                pages += [f"{exchange}/{side}-{number}/" for side in ("request", "response")]
                pages.append(f"{base}/steps/{step.pk}/response-{number}/?download=1")
    return pages


def admin_paths(team: Team, runs: list[TestRun]) -> list[str]:
    paths = [
        reverse("admin:testruns_testrun_changelist"),
        reverse("admin:testruns_steprun_changelist"),
        reverse("admin:testruns_runevent_changelist"),
        reverse("admin:meshhook_environment_changelist"),
    ]
    for environment in Environment.objects.filter(project=team.project):
        paths.append(reverse("admin:meshhook_environment_change", args=[environment.pk]))
    for run in runs:
        paths.append(reverse("admin:testruns_testrun_change", args=[run.id]))
        for pk in StepRun.objects.filter(run=run).values_list("pk", flat=True):
            paths.append(reverse("admin:testruns_steprun_change", args=[pk]))
        for pk in RunEvent.objects.filter(run=run).values_list("pk", flat=True):
            paths.append(reverse("admin:testruns_runevent_change", args=[pk]))
    return paths


def watched_run(
    team: Team, drain: Callable[[], int], start: Callable[[], Any]
) -> tuple[TestRun, list[str]]:
    """Start a run, watch it over a viewer's socket while a worker runs it in-process, and
    return it with every frame the socket got."""
    started = start()
    assert started.status_code == 201, started.data
    run = TestRun.objects.get(pk=started.data["id"])
    cookie = session_cookie(team.viewer)

    async def scenario() -> list[str]:
        socket = run_socket(run, cookie)
        connected, _ = await socket.connect()
        assert connected
        await socket.send_json_to({"after": 0})
        frames = [await socket.receive_from(timeout=10)]
        await database_sync_to_async(drain)()
        final = await database_sync_to_async(lambda: TestRun.objects.get(pk=run.pk).last_seq)()
        seen = [int(seq) for frame in frames for seq in SEQ.findall(frame)]
        while not seen or max(seen) < final:
            frame = await socket.receive_from(timeout=10)
            frames.append(frame)
            seen += [int(seq) for seq in SEQ.findall(frame)]
        await socket.disconnect()
        return frames

    frames = async_to_sync(scenario)()
    run.refresh_from_db()
    assert run.status == "passed", run.error
    return run, frames


def test_the_canaries_are_sent_and_found_nowhere(
    team: Team,
    workflow: Workflow,
    received: list[dict[str, Any]],
    drain: Callable[[], int],
    admin_client: Client,
    printed_logs: io.StringIO,
    caplog: pytest.LogCaptureFixture,
) -> None:
    headers = {"Authorization": AUTHORIZATION}
    run, frames = watched_run(team, drain, lambda: api_start(team, headers))
    client = team.bearer(team.editor)
    rerun, more_frames = watched_run(
        team, drain, lambda: send(client, "POST", f"/api/test-runs/{run.id}/rerun")
    )
    runs = [run, rerun]

    # Sent for real, both times: in the query, the headers and the body.
    sent = {
        "args": {"key": SECRET, "auth": AUTHORIZATION},
        "authorization": AUTHORIZATION,
        "secret": SECRET,
        "body": {"secret": SECRET, "typed": AUTHORIZATION, "name": "Ada"},
    }
    assert received == [sent, sent]
    # The echo came back and was stored (masked): the scan below looks at real values.
    output: Any = StepRun.objects.get(run=run, node_id="call").output
    assert output["data"]["raw_query"]
    assert output["data"]["forms"]["secret"]["basic"]

    assert database_leaks() == {}

    for number, frame in enumerate(frames + more_frames):
        assert leaks(frame) == [], f"socket frame {number}"

    for who in ("viewer", "owner"):
        bearer = team.bearer(team.user(who))
        for path in api_paths(team, runs):
            response = bearer.get(path)
            assert response.status_code == 200, path
            assert leaks(response.content.decode()) == [], path
        for htmx in (False, True):
            console = team.client(who, htmx=htmx)
            for page in page_paths(team, runs):
                response = console.get(page)
                assert response.status_code == 200, page
                assert leaks(response.content.decode()) == [], page

    for page in admin_paths(team, runs):
        response = admin_client.get(page)
        assert response.status_code == 200, page
        assert leaks(response.content.decode()) == [], page
    exported = admin_client.post(
        reverse("admin:testruns_testrun_changelist"),
        {"action": "export_runs", "_selected_action": [str(r.id) for r in runs]},
    )
    assert exported.status_code == 200
    assert leaks(exported.content.decode()) == []

    printed = printed_logs.getvalue()
    assert "HTTP Request: POST" not in printed  # httpx stays at WARNING
    assert " rq.worker " in printed  # the worker's logs are in
    assert leaks(printed) == []
    # Every logger at DEBUG: only the loggers settings keep at WARNING print a canary there
    # (httpcore's DEBUG lines show response headers as received), and the echo server.
    for name in ("httpx", "httpcore"):
        assert LOGGING["loggers"][name]["level"] == "WARNING"
    leaking = {r.name.split(".")[0] for r in caplog.records if leaks(r.getMessage())}
    assert leaking <= {"httpx", "httpcore", *REMOTE_LOGGERS}, leaking


def test_a_secret_is_masked_in_json_inside_json() -> None:
    """A JSON text that holds a JSON text (a response echoing the request body it got)
    escapes the secret's quotes twice: `"` is `\\\"` there."""
    inner = json.dumps({"secret": SECRET})
    outer = json.dumps({"raw_body": inner})
    masked = mask_secrets(outer, [SECRET])
    assert leaks(masked) == []
    assert json.loads(json.loads(masked)["raw_body"]) == {"secret": MASK}
