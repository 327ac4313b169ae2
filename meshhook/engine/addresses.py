"""What an outbound request's host really names: IP literals in every spelling resolvers
accept, IPv4 addresses hidden inside IPv6 ones, and which addresses are private.

The outbound policy (DESIGN §4) and the environment validator both decide with these, so a
spelling one of them misses cannot slip past the other.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import unquote

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata services; those Python does not already class as non-global are listed.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
        ipaddress.ip_address("192.0.0.192"),  # Oracle Cloud
    }
)
LOOPBACK_ADDRESSES = ("127.0.0.1", "::1")

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215 local-use prefix
_ISATAP_IDS = (0x00005EFE, 0x02005EFE)  # RFC 5214 interface identifier markers
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _number(part: str) -> int | None:
    """One part of an inet_aton address: decimal, octal (leading 0) or hex (0x)."""
    if part[:2].lower() == "0x":
        digits = part[2:]
        if not set(digits) <= _HEX_DIGITS:
            return None
        return int(digits, 16) if digits else 0
    if not part.isascii() or not part.isdigit():
        return None
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8) if set(part) <= set("01234567") else None
    return int(part)


def _ipv4_any_spelling(host: str) -> ipaddress.IPv4Address | None:
    """`127.0.0.1`, `127.1`, `2130706433`, `0x7f.1`, `0177.0.0.1`, `0`, `127.0.0.1.` → the
    address, as glibc's inet_aton and browsers read them; anything else → None."""
    if host.endswith("."):
        host = host[:-1]
    parts = host.split(".")
    if not host or len(parts) > 4:
        return None
    numbers = [_number(part) for part in parts]
    if any(number is None for number in numbers):
        return None
    *leading, last = [number for number in numbers if number is not None]
    if any(number > 255 for number in leading) or last >= 256 ** (4 - len(leading)):
        return None
    value = last
    for position, number in enumerate(leading):
        value += number << (8 * (3 - position))
    return ipaddress.IPv4Address(value)


def ip_literal(host: str) -> IPAddress | None:
    """The address `host` (a URL's host, IPv6 with or without brackets) names literally."""
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        # A zone (`fe80::1%25eth0` in a URL) does not change which address it is.
        text = unquote(text).partition("%")[0]
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            return None
    return _ipv4_any_spelling(text)


def is_loopback_name(host: str) -> bool:
    """`localhost` and every name under it, which resolvers answer with loopback (RFC 6761)."""
    name = host.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


def embedded_ipv4(address: IPAddress) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address carries and may be routed to: IPv4-mapped,
    -compatible and -translated forms, 6to4, Teredo (server and client), NAT64, ISATAP."""
    if isinstance(address, ipaddress.IPv4Address):
        return ()
    value = int(address)
    low = ipaddress.IPv4Address(value & 0xFFFFFFFF)
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    elif value >> 32 in (0, 0xFFFF0000) and value > 1:  # ::a.b.c.d and ::ffff:0:a.b.c.d
        found.append(low)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if address in _NAT64 or (value >> 32) & 0xFFFFFFFF in _ISATAP_IDS:
        found.append(low)
    return tuple(found)


def _is_private_ipv4(address: ipaddress.IPv4Address) -> bool:
    return (
        address in METADATA_ADDRESSES
        # Anything not globally routable: private, CGNAT (cloud metadata lives there too,
        # e.g. 100.100.100.200), benchmarking, documentation and reserved ranges.
        or not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def is_private_address(address: IPAddress) -> bool:
    """Whether a request to `address` could reach a private, loopback, link-local or metadata
    service — directly or through the IPv4 address an IPv6 one embeds."""
    if isinstance(address, ipaddress.IPv4Address):
        return _is_private_ipv4(address)
    embedded = embedded_ipv4(address)
    if address.ipv4_mapped is not None or address in _NAT64:
        # Python counts these ranges as reserved; where they go is their IPv4 address.
        return _is_private_ipv4(embedded[0])
    return (
        any(_is_private_ipv4(inner) for inner in embedded)
        or address in METADATA_ADDRESSES
        or address in _NAT64_LOCAL
        or not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_site_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def describe_address(address: IPAddress) -> str:
    """`127.0.0.1`, or `2002:7f00:1:: (carrying 127.0.0.1)` for an IPv6 with an IPv4 inside."""
    inner = ", ".join(dict.fromkeys(str(item) for item in embedded_ipv4(address)))
    return f"{address} (carrying {inner})" if inner else str(address)
