"""meshhook.engine.addresses: what a URL host names, and which addresses are private."""

from __future__ import annotations

import ipaddress

import pytest

from meshhook.engine.addresses import (
    describe_address,
    embedded_ipv4,
    ip_literal,
    is_loopback_name,
    is_private_address,
)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0X7F.0.0.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("0x", "0.0.0.0"),
        ("10.1.65535", "10.1.255.255"),
        ("1.16777215", "1.255.255.255"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("fe80::1%25eth0", "fe80::1"),
        ("[fe80::1%eth0]", "fe80::1"),
    ],
)
def test_ip_literals_in_every_spelling_resolvers_accept(host: str, address: str) -> None:
    assert ip_literal(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "08",
        "0x7g",
        "1.256.1.1",
        "1.2.3.256",
        "256.1",
        "1.2.3.4.5",
        "",
        ".",
        "1..2",
        "[::zz]",
        "١٢٧.0.0.1",
        "a:b",
    ],
)
def test_names_and_malformed_numbers_are_not_addresses(host: str) -> None:
    assert ip_literal(host) is None


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("a.b.localhost", True),
        ("localhost.com", False),
        ("mylocalhost", False),
    ],
)
def test_loopback_names(host: str, loopback: bool) -> None:
    assert is_loopback_name(host) is loopback


@pytest.mark.parametrize(
    ("address", "inner"),
    [
        ("::ffff:10.0.0.1", ["10.0.0.1"]),
        ("::10.0.0.1", ["10.0.0.1"]),
        ("::ffff:0:10.0.0.1", ["10.0.0.1"]),
        ("2002:7f00:1::", ["127.0.0.1"]),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", ["65.54.227.120", "192.0.2.45"]),
        ("64:ff9b::808:808", ["8.8.8.8"]),
        ("2600::5efe:a9fe:a9fe", ["169.254.169.254"]),
        ("2600::200:5efe:a9fe:a9fe", ["169.254.169.254"]),
        ("2606:4700::1111", []),
        ("::1", []),
        ("::", []),
        ("8.8.8.8", []),
    ],
)
def test_ipv4_addresses_carried_inside_ipv6_ones(address: str, inner: list[str]) -> None:
    assert [str(item) for item in embedded_ipv4(ipaddress.ip_address(address))] == inner


@pytest.mark.parametrize(
    ("address", "private"),
    [
        ("8.8.8.8", False),
        ("2606:4700::1111", False),
        ("64:ff9b::808:808", False),  # NAT64 to a public address
        ("::ffff:8.8.8.8", False),
        ("2002:808:808::1", False),
        ("10.0.0.1", True),
        ("100.100.100.200", True),
        ("192.0.0.192", True),
        ("169.254.169.254", True),
        ("fd00:ec2::254", True),
        ("fec0::1", True),
        ("64:ff9b::7f00:1", True),
        ("64:ff9b:1::808:808", True),  # the local-use NAT64 prefix
        ("::ffff:169.254.169.254", True),
        ("2002:a9fe:a9fe::", True),
        ("2600::5efe:a9fe:a9fe", True),
    ],
)
def test_private_addresses(address: str, private: bool) -> None:
    assert is_private_address(ipaddress.ip_address(address)) is private


def test_descriptions_name_the_carried_address() -> None:
    assert describe_address(ipaddress.ip_address("10.0.0.1")) == "10.0.0.1"
    assert describe_address(ipaddress.ip_address("64:ff9b::7f00:1")) == (
        "64:ff9b::7f00:1 (carrying 127.0.0.1)"
    )
