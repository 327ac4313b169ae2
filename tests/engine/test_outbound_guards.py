"""What the engine does around every outbound request whatever the policy: connect only to
the addresses the policy checked, send no header a node must not set, and refuse
responses nested too deeply (DESIGN §4, API.md)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

import httpcore
import pytest

from meshhook.engine import (
    ExecutionContext,
    Node,
    RunInput,
    RunState,
    StepOutcome,
    StepRecord,
    Workflow,
    execute_step,
)
from meshhook.engine.headers import merged, without_reserved
from meshhook.engine.http import PinnedBackend, PinnedTransport, connection_key
from meshhook.engine.limits import MAX_JSON_DEPTH

from .helpers import build, chain, trigger
from .netfakes import CountingListener, guarded_network, redirect_response


class PinningPolicy:
    """Allows every URL and answers each host from a table, as a resolving policy would."""

    def __init__(self, answers: Mapping[str, Sequence[str] | str]) -> None:
        self.answers = answers
        self.checked: list[str] = []

    def check(self, url: str) -> Sequence[str] | None:
        self.checked.append(url)
        host = connection_key(url)[0]
        return self.answers.get(host)

    def headers(self) -> Mapping[str, str]:
        return {"X-MeshHook-Test-Run": "run-1"}


def workflow_for(config: dict[str, Any], node_type: str = "http_call") -> Workflow:
    node = {"id": "call", "type": node_type, "config": config, "retry": {"max_attempts": 1}}
    return build([trigger(), node], chain("hook", "call"))


def send(workflow: Workflow, ctx: ExecutionContext) -> StepOutcome:
    hook = StepRecord("succeeded", {"body": None, "headers": {}, "query": {}})
    state = RunState(run=RunInput(payload=None, run_id="run-1"), steps={"hook": hook})
    return execute_step(workflow, "call", state, ctx)


def json_response(body: str) -> bytes:
    data = body.encode()
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + data


@pytest.fixture
def listener() -> Iterator[CountingListener]:
    with CountingListener() as counting:
        yield counting


# --- pinning -------------------------------------------------------------------------------


def test_the_connection_goes_to_the_addresses_the_policy_returned_in_order(
    listener: CountingListener,
) -> None:
    # Nothing listens on 127.0.0.2; the next checked address is tried. No name is looked up.
    policy = PinningPolicy({"pinned.test": ["127.0.0.2", "127.0.0.1"]})
    with guarded_network() as guard:
        outcome = send(
            workflow_for({"url": f"http://pinned.test:{listener.port}/x"}),
            ExecutionContext(policy=policy),
        )
    assert outcome.status == "succeeded", outcome.error
    assert listener.connections == 1
    assert f"Host: pinned.test:{listener.port}\r\n".encode() in listener.requests[0]
    assert guard.refused == []


def test_a_single_address_string_is_one_address(listener: CountingListener) -> None:
    policy = PinningPolicy({"pinned.test": "127.0.0.1"})
    outcome = send(
        workflow_for({"url": f"http://pinned.test:{listener.port}/"}),
        ExecutionContext(policy=policy),
    )
    assert outcome.status == "succeeded", outcome.error


def test_no_checked_address_means_no_connection(listener: CountingListener) -> None:
    policy = PinningPolicy({"127.0.0.1": []})
    outcome = send(
        workflow_for({"url": f"http://127.0.0.1:{listener.port}/"}),
        ExecutionContext(policy=policy),
    )
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert "the outbound policy allowed no address of 127.0.0.1" in outcome.error
    assert listener.connections == 0


def test_each_redirect_hop_is_pinned_to_its_own_check(listener: CountingListener) -> None:
    target = f"http://second.test:{listener.port}/end"
    policy = PinningPolicy({"first.test": ["127.0.0.1"], "second.test": ["127.0.0.1"]})
    with CountingListener(redirect_response(target)) as first:
        outcome = send(
            workflow_for({"url": f"http://first.test:{first.port}/"}),
            ExecutionContext(policy=policy),
        )
    assert outcome.status == "succeeded", outcome.error
    assert policy.checked == [f"http://first.test:{first.port}/", target]
    assert (first.connections, listener.connections) == (1, 1)
    assert f"Host: second.test:{listener.port}\r\n".encode() in listener.requests[0]


def test_the_backend_refuses_a_host_no_hop_announced() -> None:
    backend = PinnedBackend()
    backend.pin("http://announced.test/", ["127.0.0.1"])
    with pytest.raises(httpcore.ConnectError, match=r"other\.test:80 was not checked"):
        backend.connect_tcp("other.test", 80)
    with pytest.raises(httpcore.ConnectError, match=r"announced\.test:443 was not checked"):
        backend.connect_tcp("announced.test", 443)


def test_connection_keys_match_what_httpcore_connects_to() -> None:
    assert connection_key("http://API.Example.com/x") == ("api.example.com", 80)
    assert connection_key("https://[::1]:8443/") == ("::1", 8443)
    assert connection_key("https://bücher.example/") == ("xn--bcher-kva.example", 443)


def test_a_given_pinned_transport_keeps_its_own_network_backend(
    listener: CountingListener,
) -> None:
    class Recording(httpcore.SyncBackend):
        hosts: list[str] = []

        def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
            self.hosts.append(host)
            return super().connect_tcp(host, port, *args, **kwargs)

    recording = Recording()
    ctx = ExecutionContext(
        policy=PinningPolicy({"pinned.test": ["127.0.0.1"]}),
        transport=PinnedTransport(network_backend=recording, verify=False),
    )
    outcome = send(workflow_for({"url": f"http://pinned.test:{listener.port}/"}), ctx)
    assert outcome.status == "succeeded", outcome.error
    assert recording.hosts == ["127.0.0.1"]


# --- headers -------------------------------------------------------------------------------


def test_reserved_headers_are_dropped_at_send_time_and_the_run_header_sent_once(
    listener: CountingListener,
) -> None:
    workflow = workflow_for({"url": f"http://127.0.0.1:{listener.port}/"})
    # What validation refuses, forced into the compiled config: the send-time guard must
    # still hold for a definition that reached the engine some other way.
    node = workflow.node("call")
    forged = {
        "Host": "internal.example",
        "transfer-encoding": "chunked",
        "Content-Length": "0",
        "CONNECTION": "x-forged",
        "Upgrade": "h2c",
        "TE": "trailers",
        "Trailer": "X",
        "Keep-Alive": "timeout=5",
        "Proxy-Authorization": "Basic eA==",
        "x-meshhook-test-run": "forged",
        "X-MeshHook-Anything": "forged",
        "user-agent": "custom/1",
        "X-Kept": "yes",
    }
    compiled = {**node.compiled, "headers": forged}
    nodes = cast(dict[str, Node], workflow._by_id)
    nodes["call"] = dataclasses.replace(node, compiled=compiled)

    outcome = send(workflow, ExecutionContext(policy=PinningPolicy({})))

    assert outcome.status == "succeeded", outcome.error
    head = listener.requests[0].decode().lower()
    assert head.count("x-meshhook-test-run:") == 1
    assert "x-meshhook-test-run: run-1\r\n" in head
    assert f"host: 127.0.0.1:{listener.port}\r\n" in head
    for name in ("transfer-encoding", "upgrade", "te", "trailer", "keep-alive"):
        assert f"\r\n{name}:" not in head
    for text in ("internal.example", "x-forged", "proxy-", "x-meshhook-anything", "forged"):
        assert text not in head
    assert head.count("user-agent:") == 1
    assert "user-agent: custom/1\r\n" in head
    assert "x-kept: yes\r\n" in head
    warning = next(e.message for e in outcome.events if e.level == "warning")
    assert warning.startswith("Not sent as given (MeshHook sets these itself): Host, ")


def test_header_helpers() -> None:
    kept, dropped = without_reserved({"Host": "x", "Accept": "a", "proxy-x": "p"})
    assert (kept, dropped) == ({"Accept": "a"}, ["Host", "proxy-x"])
    assert merged({"x-meshhook-test-run": "f", "A": "1"}, {"X-MeshHook-Test-Run": "r"}) == {
        "A": "1",
        "X-MeshHook-Test-Run": "r",
    }


# --- response depth ------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000])
def test_a_json_response_nested_too_deeply_fails_the_step(depth: int) -> None:
    body = "[" * depth + "]" * depth
    with CountingListener(json_response(body)) as server:
        outcome = send(
            workflow_for({"url": f"http://127.0.0.1:{server.port}/"}), ExecutionContext()
        )
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert f"nests deeper than {MAX_JSON_DEPTH} levels (at " in outcome.error


def test_a_json_response_at_the_depth_limit_is_data() -> None:
    body = json.dumps({"a": [[[1]]]})
    with CountingListener(json_response(body)) as server:
        outcome = send(
            workflow_for({"url": f"http://127.0.0.1:{server.port}/"}), ExecutionContext()
        )
    assert outcome.output["data"] == {"a": [[[1]]]}
