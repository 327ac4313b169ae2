"""http_call and webhook against a real local server (DESIGN §2, §4)."""

import json
import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from meshhook.engine import (
    ExecutionContext,
    Limits,
    PolicyViolation,
    RunInput,
    RunState,
    StepOutcome,
    StepRecord,
    Workflow,
    execute_step,
)

from .helpers import build, chain, trigger

FAST_RETRY = {"initial_delay_ms": 1, "max_delay_ms": 5}


def http_workflow(config: dict[str, Any], node_type: str = "http_call", **fields: Any) -> Workflow:
    node = {"id": "call", "type": node_type, "config": config, **fields}
    node.setdefault("retry", FAST_RETRY)
    return build([trigger(), node], chain("hook", "call"))


def call(
    workflow: Workflow,
    payload: Any = None,
    ctx: ExecutionContext | None = None,
    secrets: Mapping[str, str] | None = None,
) -> StepOutcome:
    """Execute the http node with the trigger already done."""
    run = RunInput(payload=payload, secrets=secrets or {}, run_id="run-1")
    hook = StepRecord("succeeded", {"body": payload, "headers": {}, "query": {}})
    state = RunState(run=run, steps={"hook": hook})
    return execute_step(workflow, "call", state, ctx or ExecutionContext())


def attempts(outcome: StepOutcome) -> list[str]:
    return [e.message for e in outcome.events if e.type == "http_attempt"]


class RecordingPolicy:
    def __init__(self, refuse: str | None = None) -> None:
        self.checked: list[str] = []
        self.refuse = refuse

    def check(self, url: str) -> None:
        self.checked.append(url)
        if self.refuse and self.refuse in url:
            raise PolicyViolation(f"host of {url} is not allowed in environment 'ci'")

    def headers(self) -> Mapping[str, str]:
        return {"X-MeshHook-Test-Run": "run-1"}


def test_response_envelope_and_attempt_event(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/contacts", method="POST").respond_with_json(
        {"id": 7}, status=201, headers={"X-Trace": "t1"}
    )
    url = httpserver.url_for("/contacts")
    outcome = call(http_workflow({"method": "POST", "url": url, "body": {"a": 1}}))
    assert outcome.status == "succeeded"
    envelope = outcome.output
    assert set(envelope) == {"status", "ok", "headers", "data", "duration_ms"}
    assert (envelope["status"], envelope["ok"], envelope["data"]) == (201, True, {"id": 7})
    assert envelope["headers"]["x-trace"] == "t1"
    assert isinstance(envelope["duration_ms"], int)
    assert outcome.attempts == 1
    assert re.fullmatch(rf"POST {re.escape(url)} → 201 in \d+ ms", attempts(outcome)[0])
    event = next(e for e in outcome.events if e.type == "http_attempt")
    assert {k: event.data[k] for k in ("method", "url", "status", "attempt")} == {
        "method": "POST",
        "url": url,
        "status": 201,
        "attempt": 1,
    }
    assert json.loads(httpserver.log[0][0].get_data()) == {"a": 1}


def test_response_types(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/json").respond_with_data("[1, 2]", content_type="application/json")
    httpserver.expect_request("/text").respond_with_data("hello", content_type="text/plain")
    httpserver.expect_request("/empty").respond_with_data("")
    httpserver.expect_request("/bad").respond_with_data("{not", content_type="application/json")

    def data(path: str, kind: str = "auto") -> Any:
        workflow = http_workflow({"url": httpserver.url_for(path), "response_type": kind})
        return call(workflow).output["data"]

    assert data("/json") == [1, 2]
    assert data("/json", "text") == "[1, 2]"
    assert data("/text") == "hello"
    assert data("/empty") is None
    assert data("/empty", "text") == ""
    assert data("/bad") == "{not"
    failed = call(http_workflow({"url": httpserver.url_for("/bad"), "response_type": "json"}))
    assert failed.error is not None
    assert failed.error.startswith(f"response from {httpserver.url_for('/bad')} is not valid JSON")


def test_status_400_and_above_fails_the_step_naming_status_and_url(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/missing").respond_with_data("nope", status=404)
    url = httpserver.url_for("/missing")
    outcome = call(http_workflow({"url": url}))
    assert outcome.status == "failed"
    assert outcome.error == f"GET {url} returned 404 Not Found"
    assert len(httpserver.log) == 1  # 404 is not retryable
    assert len(outcome.http) == 1


def test_fail_on_status_false_returns_the_envelope(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/missing").respond_with_json({"e": 1}, status=404)
    outcome = call(http_workflow({"url": httpserver.url_for("/missing"), "fail_on_status": False}))
    assert outcome.status == "succeeded"
    assert (outcome.output["status"], outcome.output["ok"], outcome.output["data"]) == (
        404,
        False,
        {"e": 1},
    )


def test_retryable_statuses_are_retried_and_counted_by_the_server(httpserver: HTTPServer) -> None:
    statuses = iter([503, 502, 200])
    httpserver.expect_request("/flaky").respond_with_handler(
        lambda _: Response("x", status=next(statuses))
    )
    outcome = call(http_workflow({"url": httpserver.url_for("/flaky")}))
    assert outcome.status == "succeeded"
    assert len(httpserver.log) == 3
    assert outcome.attempts == 3
    assert [exchange.attempt for exchange in outcome.http] == [1, 2, 3]
    retries = [e.message for e in outcome.events if e.type == "log"]
    assert re.fullmatch(
        r"Retrying in 0\.0 s \(attempt 2 of 3\): 503 Service Unavailable", retries[0]
    )
    assert re.fullmatch(r"Retrying in 0\.0 s \(attempt 3 of 3\): 502 Bad Gateway", retries[1])


def test_retries_give_up_after_max_attempts(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/down").respond_with_data("busy", status=503)
    url = httpserver.url_for("/down")
    outcome = call(http_workflow({"url": url}, retry={**FAST_RETRY, "max_attempts": 4}))
    assert len(httpserver.log) == 4
    assert outcome.error == f"GET {url} returned 503 Service Unavailable (after 4 attempts)"


def test_backoff_is_exponential_with_jitter_and_capped(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/down").respond_with_data("", status=500)
    slept: list[float] = []
    retry = {
        "max_attempts": 4,
        "initial_delay_ms": 1000,
        "backoff_multiplier": 3,
        "max_delay_ms": 5000,
    }
    outcome = call(
        http_workflow({"url": httpserver.url_for("/down")}, retry=retry),
        ctx=ExecutionContext(sleep=slept.append),
    )
    delays = [e.data["delay_ms"] for e in outcome.events if e.type == "log"]
    assert 800 <= delays[0] <= 1000
    assert 2400 <= delays[1] <= 3000
    assert 4000 <= delays[2] <= 5000
    assert sum(slept) == pytest.approx(sum(delays) / 1000, abs=0.01)
    kinds = [e.type for e in outcome.events]
    assert kinds == ["step_started"] + ["http_attempt", "log"] * 3 + ["http_attempt", "step_failed"]


def test_retry_after_header_is_respected_up_to_max_delay(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/limited").respond_with_data(
        "", status=429, headers={"Retry-After": "2"}
    )
    slept: list[float] = []
    retry = {"max_attempts": 2, "initial_delay_ms": 1, "max_delay_ms": 10_000}
    call(
        http_workflow({"url": httpserver.url_for("/limited")}, retry=retry),
        ctx=ExecutionContext(sleep=slept.append),
    )
    assert sum(slept) == pytest.approx(2.0)


def test_network_errors_are_retried_then_fail(unused_port: int) -> None:
    url = f"http://127.0.0.1:{unused_port}/x"
    outcome = call(http_workflow({"url": url}))
    assert outcome.status == "failed"
    assert outcome.attempts == 3
    assert outcome.error is not None
    assert outcome.error.startswith(f"GET {url} failed (after 3 attempts): connection failed")
    assert [exchange.response for exchange in outcome.http] == [None, None, None]
    assert all(exchange.error for exchange in outcome.http)
    assert attempts(outcome)[0].startswith(f"GET {url} failed after ")


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def slow_server() -> Iterator[HTTPServer]:
    """A server of its own whose one endpoint answers only when the test is over."""
    release = threading.Event()

    def slow(_: Request) -> Response:
        release.wait(10)
        return Response("late")

    server = HTTPServer()
    server.expect_request("/slow").respond_with_handler(slow)
    server.start()
    yield server
    release.set()
    server.stop()


def test_step_timeout_bounds_each_attempt(slow_server: HTTPServer) -> None:
    started = time.monotonic()
    outcome = call(
        http_workflow(
            {"url": slow_server.url_for("/slow")}, timeout_ms=100, retry={"max_attempts": 1}
        )
    )
    assert time.monotonic() - started < 3
    assert outcome.error is not None
    assert outcome.error.endswith("timed out after 100 ms")


def test_run_deadline_bounds_the_request(slow_server: HTTPServer) -> None:
    ctx = ExecutionContext(deadline=time.monotonic() + 0.2)
    started = time.monotonic()
    outcome = call(http_workflow({"url": slow_server.url_for("/slow")}), ctx=ctx)
    assert time.monotonic() - started < 3
    assert outcome.status == "failed"
    assert outcome.error is not None
    url = slow_server.url_for("/slow")
    assert re.fullmatch(
        rf"run timeout reached after 1 attempt of GET {re.escape(url)}; "
        r"the last one: timed out after \d+ ms",
        outcome.error,
    )


def test_response_larger_than_the_cap_fails_with_a_clear_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/big").respond_with_data("x" * 5000)
    url = httpserver.url_for("/big")
    outcome = call(
        http_workflow({"url": url}), ctx=ExecutionContext(limits=Limits(max_response_bytes=1000))
    )
    assert outcome.error == f"response from {url} is larger than the 1.0 kB limit"
    assert len(httpserver.log) == 1  # not retried


def test_a_streamed_response_is_cut_off_at_the_cap(httpserver: HTTPServer) -> None:
    def stream(_: Request) -> Response:
        return Response((b"y" * 400 for _ in range(10)), direct_passthrough=True)

    httpserver.expect_request("/stream").respond_with_handler(stream)
    url = httpserver.url_for("/stream")
    outcome = call(
        http_workflow({"url": url}), ctx=ExecutionContext(limits=Limits(max_response_bytes=1000))
    )
    assert outcome.error == f"response from {url} is larger than the 1.0 kB limit; reading stopped"
    assert outcome.http[0].error == outcome.error


def test_redirects_are_followed_and_every_hop_is_checked_by_the_policy(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request("/a").respond_with_data("", status=302, headers={"Location": "/b"})
    httpserver.expect_request("/b").respond_with_data(
        "", status=307, headers={"Location": httpserver.url_for("/c")}
    )
    httpserver.expect_request("/c").respond_with_json({"done": True})
    policy = RecordingPolicy()
    outcome = call(
        http_workflow({"url": httpserver.url_for("/a")}), ctx=ExecutionContext(policy=policy)
    )
    assert outcome.output["data"] == {"done": True}
    assert policy.checked == [httpserver.url_for(p) for p in ("/a", "/b", "/c")]
    assert [request.headers["X-MeshHook-Test-Run"] for request, _ in httpserver.log] == [
        "run-1"
    ] * 3
    assert [exchange.response["status"] for exchange in outcome.http if exchange.response] == [
        302,
        307,
        200,
    ]
    assert attempts(outcome)[0].endswith(", redirect to /b")


def test_a_303_after_post_becomes_a_get_without_body(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/form", method="POST").respond_with_data(
        "", status=303, headers={"Location": "/result"}
    )
    httpserver.expect_request("/result", method="GET").respond_with_data("ok")
    outcome = call(
        http_workflow({"method": "POST", "url": httpserver.url_for("/form"), "body": {"a": 1}})
    )
    assert outcome.output["data"] == "ok"
    assert httpserver.log[1][0].get_data() == b""


def test_more_than_five_redirects_fail(httpserver: HTTPServer) -> None:
    for hop in range(7):
        httpserver.expect_request(f"/r{hop}").respond_with_data(
            "", status=302, headers={"Location": f"/r{hop + 1}"}
        )
    url = httpserver.url_for("/r0")
    outcome = call(http_workflow({"url": url}))
    assert outcome.error == f"too many redirects: more than 5 starting at {url}"
    assert len(httpserver.log) == 6


def test_redirects_are_not_followed_when_disabled(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/a").respond_with_data("", status=302, headers={"Location": "/b"})
    outcome = call(http_workflow({"url": httpserver.url_for("/a"), "follow_redirects": False}))
    assert outcome.output["status"] == 302
    assert len(httpserver.log) == 1


def test_policy_refusal_fails_the_step_without_any_request(httpserver: HTTPServer) -> None:
    url = httpserver.url_for("/private")
    outcome = call(
        http_workflow({"url": url}), ctx=ExecutionContext(policy=RecordingPolicy(refuse="/private"))
    )
    assert outcome.error == f"host of {url} is not allowed in environment 'ci'"
    assert httpserver.log == []
    assert outcome.attempts == 1


def test_policy_refusal_of_a_redirect_hop_stops_there(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/a").respond_with_data(
        "", status=302, headers={"Location": "/internal"}
    )
    policy = RecordingPolicy(refuse="/internal")
    outcome = call(
        http_workflow({"url": httpserver.url_for("/a")}), ctx=ExecutionContext(policy=policy)
    )
    assert outcome.error is not None
    assert outcome.error.startswith("host of ")
    assert [request.path for request, _ in httpserver.log] == ["/a"]


def test_cross_host_redirect_drops_credentials(httpserver: HTTPServer) -> None:
    other_host = httpserver.url_for("/b").replace("localhost", "127.0.0.1")
    httpserver.expect_request("/a").respond_with_data(
        "", status=302, headers={"Location": other_host}
    )
    httpserver.expect_request("/b").respond_with_data("ok")
    call(http_workflow({"url": httpserver.url_for("/a"), "headers": {"Authorization": "Bearer x"}}))
    assert [request.headers.get("Authorization") for request, _ in httpserver.log] == [
        "Bearer x",
        None,
    ]


def test_sensitive_headers_and_secrets_are_masked_everywhere(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/echo").respond_with_handler(
        lambda request: Response(
            json.dumps({"seen": request.headers["Authorization"], "key": request.args["key"]}),
            headers={"Set-Cookie": "session=abc", "Content-Type": "application/json"},
        )
    )
    workflow = http_workflow(
        {
            "method": "POST",
            "url": httpserver.url_for("/echo") + "?key={{ secrets.API_KEY }}",
            "headers": {"Authorization": "Bearer {{ secrets.TOKEN }}", "X-Api-Key": "plain-value"},
            "body": {"token": "{{ secrets.TOKEN }}"},
        }
    )
    secrets = {"TOKEN": "tok-123456", "API_KEY": "key-987654"}
    outcome = call(workflow, secrets=secrets)
    assert outcome.status == "succeeded"
    request, response = outcome.http[0].request, outcome.http[0].response
    assert request["headers"]["Authorization"] == "••••••"
    assert request["headers"]["X-Api-Key"] == "••••••"
    assert response is not None
    assert response["headers"]["set-cookie"] == "••••••"
    everything = repr(
        (outcome.output, outcome.resolved_config, outcome.events, outcome.http, outcome.input)
    )
    assert "tok-123456" not in everything
    assert "key-987654" not in everything
    assert "session=abc" not in everything
    assert outcome.output["data"] == {"seen": "Bearer ••••••", "key": "••••••"}
    assert outcome.resolved_config["headers"]["Authorization"] == "••••••"
    # Later steps still see the real values.
    assert outcome.record().output["data"]["seen"] == "Bearer tok-123456"
    assert outcome.record().output["headers"]["set-cookie"] == "session=abc"


def test_without_a_body_post_sends_the_input_and_get_sends_nothing(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/in").respond_with_data("ok")
    call(http_workflow({"method": "POST", "url": httpserver.url_for("/in")}), payload={"p": 1})
    call(http_workflow({"url": httpserver.url_for("/in")}), payload={"p": 1})
    post, get = (request for request, _ in httpserver.log)
    assert json.loads(post.get_data()) == {"body": {"p": 1}, "headers": {}, "query": {}}
    assert post.headers["Content-Type"] == "application/json"
    assert get.get_data() == b""


def test_string_bodies_are_sent_as_text_unless_a_content_type_is_given(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request("/in").respond_with_data("ok")
    call(http_workflow({"method": "PUT", "url": httpserver.url_for("/in"), "body": "a=1"}))
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    call(
        http_workflow(
            {"method": "PATCH", "url": httpserver.url_for("/in"), "body": "a=1", "headers": headers}
        )
    )
    first, second = (request for request, _ in httpserver.log)
    assert (first.method, first.headers["Content-Type"], first.get_data()) == (
        "PUT",
        "text/plain; charset=utf-8",
        b"a=1",
    )
    assert (second.method, second.headers["Content-Type"]) == (
        "PATCH",
        "application/x-www-form-urlencoded",
    )


def test_query_parameters_are_merged_into_the_url(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/search").respond_with_data("ok")
    call(
        http_workflow(
            {
                "url": httpserver.url_for("/search") + "?a=1",
                "query": {"n": 2, "flag": True, "s": "x y"},
            }
        )
    )
    assert dict(httpserver.log[0][0].args) == {"a": "1", "n": "2", "flag": "true", "s": "x y"}


def test_webhook_posts_the_body_template(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_json({"ok": True})
    workflow = http_workflow(
        {"url": httpserver.url_for("/hook"), "body_template": {"text": "hi {{ body.name }}"}},
        node_type="webhook",
    )
    outcome = call(workflow, payload={"name": "Ada"})
    assert outcome.output["data"] == {"ok": True}
    assert json.loads(httpserver.log[0][0].get_data()) == {"text": "hi Ada"}


def test_webhook_without_template_sends_the_input_with_its_method(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook", method="PUT").respond_with_data("ok")
    call(
        http_workflow({"url": httpserver.url_for("/hook"), "method": "PUT"}, node_type="webhook"),
        payload=[1],
    )
    assert json.loads(httpserver.log[0][0].get_data())["body"] == [1]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.test/x", "URL must start with http:// or https://"),
        ("{{ body }}", "url must render to a string"),
        ("http://a:xx/", "invalid URL 'http://a:xx/': Invalid port"),
        ("http:///path", "and name a host"),
    ],
)
def test_invalid_urls_fail_the_step(url: str, message: str) -> None:
    outcome = call(http_workflow({"url": url}), payload={"a": 1})
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert message in outcome.error


def test_unusual_status_codes_keep_the_server_reason(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/odd").respond_with_response(
        Response("", status="599 Custom Reason")
    )
    url = httpserver.url_for("/odd")
    outcome = call(http_workflow({"url": url}, retry={"max_attempts": 1}))
    assert outcome.error == f"GET {url} returned 599 Custom Reason"


def test_recorded_bodies_are_truncated(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/big-body").respond_with_data("z" * 70_000)
    outcome = call(
        http_workflow(
            {"method": "POST", "url": httpserver.url_for("/big-body"), "body": "q" * 70_000}
        )
    )
    assert outcome.http[0].request["body"].endswith("… (4464 more characters)")
    assert outcome.http[0].response is not None
    assert outcome.http[0].response["body"].endswith("… (4464 more characters)")
    assert len(outcome.output["data"]) == 70_000


def test_a_policy_that_breaks_fails_the_step_with_its_error(httpserver: HTTPServer) -> None:
    class BrokenPolicy(RecordingPolicy):
        def check(self, url: str) -> None:
            raise OSError("name resolution failed")

    url = httpserver.url_for("/x")
    outcome = call(http_workflow({"url": url}), ctx=ExecutionContext(policy=BrokenPolicy()))
    assert outcome.error == f"the outbound policy could not check {url}: name resolution failed"
    assert httpserver.log == []
