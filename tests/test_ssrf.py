"""Where a test run's requests may go (DESIGN §4): the test-run policy against DNS
rebinding, address spellings, addresses hidden inside IPv6 ones, and private-network
allowlist entries.

Nothing here opens a socket to anything but loopback: lookups come from FakeDNS, and the
connect guard refuses (and records) every connection elsewhere. Addresses that are not
loopback are checked by the policy in-process.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from meshhook.engine import (
    ExecutionContext,
    PolicyViolation,
    RunInput,
    RunState,
    StepOutcome,
    StepRecord,
    execute_step,
)
from meshhook.engine.http import PinnedTransport
from meshhook.engine.problems import Problem
from meshhook.services.environments import validate_fields
from testruns.outbound import TestRunPolicy

from .engine.helpers import build, chain, trigger
from .engine.netfakes import (
    CountingListener,
    FakeDNS,
    certificates,
    guarded_network,
    redirect_response,
)

PUBLIC = "93.184.215.14"  # any globally routable address; the guard never lets it connect
PUBLIC_START = "93.184.215.15"


def policy(
    allowed: Sequence[str] = ("*",), *, private: bool = False, dns: FakeDNS | None = None
) -> TestRunPolicy:
    return TestRunPolicy(
        run_id="run-1",
        environment="ci",
        allowed_hosts=list(allowed),
        allow_private_network=private,
        resolver=dns,
    )


def fetch(url: str, ctx: ExecutionContext) -> StepOutcome:
    node = {"id": "call", "type": "http_call", "config": {"url": url}, "retry": {"max_attempts": 1}}
    workflow = build([trigger(), node], chain("hook", "call"))
    hook = StepRecord("succeeded", {"body": None, "headers": {}, "query": {}})
    state = RunState(run=RunInput(payload=None, run_id="run-1"), steps={"hook": hook})
    return execute_step(workflow, "call", state, ctx)


@pytest.fixture
def listener() -> Iterator[CountingListener]:
    with CountingListener() as counting:
        yield counting


# --- 1. DNS rebinding ------------------------------------------------------------------------


def test_a_dns_answer_that_changes_after_the_check_is_never_connected_to(
    listener: CountingListener,
) -> None:
    # The policy's lookup says public; the lookup a connect would make says loopback.
    dns = FakeDNS({"rebind.test": [[PUBLIC], ["127.0.0.1"]]})
    with guarded_network(dns) as guard:  # the policy's default resolver asks getaddrinfo
        outcome = fetch(
            f"http://rebind.test:{listener.port}/",
            ExecutionContext(
                policy=TestRunPolicy(
                    run_id="run-1",
                    environment="ci",
                    allowed_hosts=["rebind.test"],
                    allow_private_network=False,
                )
            ),
        )
    assert listener.connections == 0
    assert guard.refused == [(PUBLIC, listener.port)]  # the checked address, and only it
    assert dns.lookups == {"rebind.test": 1}
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert "connection failed" in outcome.error


def test_each_redirect_hop_connects_only_to_the_address_checked_for_it(
    listener: CountingListener,
) -> None:
    # start.test is a public server (played by a loopback listener) redirecting to a name
    # that rebinds between the check of that hop and its connection.
    dns = FakeDNS({"start.test": [[PUBLIC_START]], "rebind.test": [[PUBLIC], ["127.0.0.1"]]})
    target = f"http://rebind.test:{listener.port}/"
    with CountingListener(redirect_response(target)) as start, guarded_network(dns) as guard:
        guard.stand_ins[(PUBLIC_START, start.port)] = ("127.0.0.1", start.port)
        checks = TestRunPolicy(
            run_id="run-1",
            environment="ci",
            allowed_hosts=["start.test", "rebind.test"],
            allow_private_network=False,
        )
        outcome = fetch(f"http://start.test:{start.port}/", ExecutionContext(policy=checks))
    assert start.connections == 1
    assert listener.connections == 0
    assert guard.refused == [(PUBLIC, listener.port)]
    assert outcome.status == "failed"
    assert [
        exchange.response["status"] if exchange.response else None for exchange in outcome.http
    ] == [302, None]


def test_the_request_goes_to_the_checked_address_and_names_the_host(
    listener: CountingListener,
) -> None:
    # A second lookup would answer a private address the request must not reach.
    dns = FakeDNS({"svc.test": [["127.0.0.1"], ["10.9.9.9"]]})
    with guarded_network(dns) as guard:
        checks = policy([f"svc.test:{listener.port}"], private=True, dns=dns)
        outcome = fetch(f"http://svc.test:{listener.port}/path", ExecutionContext(policy=checks))
    assert outcome.status == "succeeded", outcome.error
    assert outcome.output["data"] == "ok"
    assert listener.connections == 1
    assert f"Host: svc.test:{listener.port}\r\n".encode() in listener.requests[0]
    assert b"X-MeshHook-Test-Run: run-1\r\n" in listener.requests[0]
    assert dns.lookups == {"svc.test": 1}
    assert guard.refused == []


@pytest.mark.parametrize(("served_for", "passes"), [("secure.test", True), ("other.test", False)])
def test_tls_is_verified_against_the_host_name_while_connecting_to_the_checked_address(
    tmp_path: Path, served_for: str, passes: bool
) -> None:
    certs = certificates(served_for, tmp_dir=tmp_path)
    dns = FakeDNS({"secure.test": [["127.0.0.1"]]})
    with CountingListener(tls=certs.server) as server, guarded_network(dns):
        checks = policy([f"secure.test:{server.port}"], private=True, dns=dns)
        ctx = ExecutionContext(policy=checks, transport=PinnedTransport(verify=certs.client()))
        outcome = fetch(f"https://secure.test:{server.port}/", ctx)
    assert server.connections == 1
    if passes:
        assert outcome.status == "succeeded", outcome.error
    else:
        assert outcome.status == "failed"
        assert outcome.error is not None
        assert "CERTIFICATE_VERIFY_FAILED" in outcome.error


# --- 2. Address tricks -----------------------------------------------------------------------

LOOPBACK_SPELLINGS = [
    "127.0.0.1",
    "0x7f.1",
    "0x7f.0.0.1",
    "0x7f000001",
    "2130706433",
    "127.1",
    "127.0.1",
    "0177.0.0.1",
    "017700000001",
    "127.0.0.1.",
    "0",
    "0.0.0.0",
    "[::]",
    "[::1]",
    "[0:0:0:0:0:0:0:1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[0:0:0:0:0:ffff:7f00:1]",
    "localhost",
    "localhost.",
    "LOCALHOST",
    "app.localhost",
]
# How an environment may try to open loopback: not at all, by wildcard, without a port.
LOOSE_ENVIRONMENTS: dict[str, tuple[list[str], bool, str | None]] = {
    "private-off": (["*"], False, "does not allow"),
    "wildcard": (["*"], True, "naming the host and its port"),
    "port-less": (["127.0.0.1", "localhost", "*.localhost", "0x7f.1", "::1"], True, None),
}


@pytest.mark.parametrize("environment", list(LOOSE_ENVIRONMENTS))
@pytest.mark.parametrize("spelling", LOOPBACK_SPELLINGS)
def test_loopback_in_any_spelling_is_refused_end_to_end(
    listener: CountingListener, spelling: str, environment: str
) -> None:
    allowed, private, message = LOOSE_ENVIRONMENTS[environment]
    dns = FakeDNS()  # no name may be looked up at all
    url = f"http://{spelling}:{listener.port}/"
    with guarded_network(dns) as guard:
        checks = policy(allowed, private=private, dns=dns)
        outcome = fetch(url, ExecutionContext(policy=checks))
    assert outcome.status == "failed"
    assert outcome.error is not None
    if not outcome.error.startswith("invalid URL"):  # httpx itself refuses some spellings
        assert "private address" in outcome.error or "not on the allowlist" in outcome.error
        if message is not None:
            assert message in outcome.error
    assert listener.connections == 0
    assert guard.refused == []
    assert dns.lookups == {}


@pytest.mark.parametrize("spelling", ["127.0.0.1", "localhost"])
def test_an_explicit_host_and_port_entry_opens_exactly_that_loopback_port(
    listener: CountingListener, spelling: str
) -> None:
    dns = FakeDNS()
    with guarded_network(dns):
        checks = policy([f"{spelling}:{listener.port}"], private=True, dns=dns)
        allowed = fetch(f"http://{spelling}:{listener.port}/", ExecutionContext(policy=checks))
        other_port = fetch(
            f"http://{spelling}:{listener.port + 1}/", ExecutionContext(policy=checks)
        )
    assert allowed.status == "succeeded", allowed.error
    assert listener.connections == 1
    assert other_port.status == "failed"
    assert other_port.error is not None
    assert "not on the allowlist" in other_port.error


PRIVATE_ADDRESSES = [
    # private, shared and special IPv4
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "100.64.0.1",
    "127.0.0.53",
    "0.0.0.0",
    "198.18.0.1",
    "192.0.2.1",
    "224.0.0.1",
    "255.255.255.255",
    "240.0.0.1",
    # metadata services
    "169.254.169.254",
    "169.254.170.2",
    "fd00:ec2::254",
    "100.100.100.200",
    "192.0.0.192",
    # IPv6 that is private itself
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "fec0::1",
    "ff02::1",
    # 6to4 carrying private IPv4
    "2002:7f00:1::",
    "2002:a9fe:a9fe::",
    "2002:a00:1::1",
    "2002:c0a8:101::",
    # NAT64 carrying private IPv4, and the local-use NAT64 prefix
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b::a00:1",
    "64:ff9b:1::7f00:1",
    # Teredo (2001:0::/32) with IPv4 embedded, public or not
    "2001:0:7f00:1::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "2001:0:a9fe:a9fe::",
    # IPv4-mapped, -compatible and -translated forms, ISATAP
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "::ffff:100.100.100.200",
    "::127.0.0.1",
    "::169.254.169.254",
    "::ffff:0:127.0.0.1",
    "fe80::5efe:7f00:1",
    "2600::5efe:a9fe:a9fe",
]


@pytest.mark.parametrize("address", PRIVATE_ADDRESSES)
def test_a_name_resolving_to_a_private_address_is_refused(address: str) -> None:
    dns = FakeDNS({"svc.test": [[address]]})
    with pytest.raises(PolicyViolation, match="private address") as refused:
        policy(["svc.test"], dns=dns).check("https://svc.test/")
    assert "svc.test" in refused.value.message
    assert "environment 'ci' does not allow" in refused.value.message


@pytest.mark.parametrize("address", PRIVATE_ADDRESSES)
def test_a_private_address_in_the_url_is_refused(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(PolicyViolation, match="is the private address"):
        policy(["*"], dns=FakeDNS()).check(f"http://{host}:8080/")


@pytest.mark.parametrize("address", PRIVATE_ADDRESSES[:12])
def test_one_private_answer_among_public_ones_is_enough_to_refuse(address: str) -> None:
    dns = FakeDNS({"svc.test": [[PUBLIC, "2606:4700::1111", address]]})
    with pytest.raises(PolicyViolation, match=re.escape(f"private address {address}")):
        policy(["svc.test"], dns=dns).check("http://svc.test/")


@pytest.mark.parametrize(
    "address",
    [PUBLIC, "8.8.8.8", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::1"],
)
def test_public_addresses_pass_and_are_returned_for_pinning(address: str) -> None:
    dns = FakeDNS({"svc.test": [[address, address]]})
    assert policy(["svc.test"], dns=dns).check("http://svc.test/") == (address,)


def test_the_embedded_ipv4_address_is_named_in_the_refusal() -> None:
    dns = FakeDNS({"svc.test": [["2002:a9fe:a9fe::"]]})
    with pytest.raises(PolicyViolation) as refused:
        policy(["svc.test"], dns=dns).check("http://svc.test/")
    assert "2002:a9fe:a9fe:: (carrying 169.254.169.254)" in refused.value.message


@pytest.mark.parametrize(
    ("allowed", "allowed_through"),
    [
        (["svc.test:8080"], True),
        (["*.test", "svc.test:8080"], True),  # the explicit entry is the one that counts
        (["svc.test"], False),
        (["*.test"], False),
        (["*"], False),
        (["svc.test:9090"], None),  # another port: not on the allowlist at all
    ],
)
def test_private_networks_open_only_through_explicit_host_and_port_entries(
    allowed: list[str], allowed_through: bool | None
) -> None:
    dns = FakeDNS({"svc.test": [["10.0.0.7"]]})
    checks = policy(allowed, private=True, dns=dns)
    if allowed_through:
        assert checks.check("http://svc.test:8080/") == ("10.0.0.7",)
        return
    message = "not on the allowlist" if allowed_through is None else "svc.test:8080"
    with pytest.raises(PolicyViolation, match=message):
        checks.check("http://svc.test:8080/")


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "cannot be resolved"),
        ([], "resolves to no address"),
        (["not-an-address"], "not an address"),
    ],
)
def test_lookups_that_give_no_usable_address_are_refused(answer: Any, message: str) -> None:
    def resolver(host: str, port: int) -> list[str]:
        if isinstance(answer, Exception):
            raise answer
        return list(answer)

    checks = TestRunPolicy(
        run_id="r",
        environment="ci",
        allowed_hosts=["svc.test"],
        allow_private_network=False,
        resolver=resolver,
    )
    with pytest.raises(PolicyViolation, match=message):
        checks.check("http://svc.test/")


@pytest.mark.parametrize("url", ["ftp://svc.test/", "http:///path", "file:///etc/passwd"])
def test_only_http_urls_with_a_host_are_checked(url: str) -> None:
    with pytest.raises(PolicyViolation, match="Only http"):
        policy(dns=FakeDNS()).check(url)


# --- 3. Allowlist entries for private networks ------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("127.0.0.1", "must name its port"),
        ("localhost", "must name its port"),
        ("app.localhost", "must name its port"),
        ("10.1.2.3", "must name its port"),
        ("169.254.169.254", "must name its port"),
        ("[::1]", "must name its port"),
        ("[::ffff:127.0.0.1]", "must name its port"),
        ("[2002:7f00:1::]", "must name its port"),
        ("*.localhost", "wildcard cannot cover the private names"),
        ("*.internal", "wildcard cannot cover the private names"),
        ("*.0.0.1", "wildcard cannot cover IP addresses"),
        ("*.1", "wildcard cannot cover IP addresses"),
        ("2130706433:8000", "write the address as '127.0.0.1'"),
        ("0x7f.1:8000", "write the address as '127.0.0.1'"),
        ("127.1:8000", "write the address as '127.0.0.1'"),
    ],
)
def test_allowlist_entries_opening_private_networks_wholesale_are_refused(
    entry: str, problem: str
) -> None:
    problems: list[Problem] = []
    values = validate_fields({"allowed_hosts": ["api.example.com", entry]}, problems)
    assert values == {"allowed_hosts": ["api.example.com"]}
    assert [p.path for p in problems] == ["allowed_hosts[1]"]
    assert problems[0].message.startswith(f"'{entry}': ")  # names the entry
    assert problem in problems[0].message


@pytest.mark.parametrize(
    "entry",
    [
        "127.0.0.1:8000",
        "localhost:8025",
        "[::1]:8000",
        "10.1.2.3:443",
        "*.example.org",
        "api.example.com",
        "8.8.8.8",
        "*.example.org:8443",
    ],
)
def test_explicit_private_entries_and_public_patterns_are_accepted(entry: str) -> None:
    problems: list[Problem] = []
    assert validate_fields({"allowed_hosts": [entry]}, problems) == {"allowed_hosts": [entry]}
    assert problems == []


@pytest.mark.django_db
def test_the_demo_environments_open_only_the_sandbox_port(settings: Any) -> None:
    from meshhook.demo import load_demo, sandbox_host
    from meshhook.models import Environment

    project = load_demo(port=8123)
    local = Environment.objects.get(project=project, name="local")
    # Entries from before (port-less loopback) are replaced, hand-made valid ones kept.
    local.allowed_hosts = ["127.0.0.1", "localhost", "api.internal:8443"]
    local.save()

    load_demo(port=8123)

    local.refresh_from_db()
    assert sandbox_host(8123) == "127.0.0.1:8123"
    assert local.allowed_hosts == ["api.internal:8443", "127.0.0.1:8123"]
    staging = Environment.objects.get(project=project, name="staging")
    assert staging.allowed_hosts == ["127.0.0.1:8123"]
    settings.PORT = 8555
    assert sandbox_host() == "127.0.0.1:8555"
