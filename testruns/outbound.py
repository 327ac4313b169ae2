"""The outbound-request policy of a test run (DESIGN §4).

Only hosts on the environment's allowlist; no private, loopback, link-local or metadata
address (checked after DNS resolution, IPv4-mapped and other IPv6 forms carrying an IPv4
address included) unless the environment allows private networks, and then only for
allowlist entries that name the host and its port; every request carries
X-MeshHook-Test-Run.

`check` returns the addresses it checked and the engine connects only to those, so a DNS
answer that changes between the check and the connection (rebinding) cannot redirect it.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
from collections.abc import Callable, Mapping, Sequence

import httpx

from meshhook.engine import PolicyViolation
from meshhook.engine.addresses import (
    LOOPBACK_ADDRESSES,
    METADATA_ADDRESSES,
    IPAddress,
    describe_address,
    ip_literal,
    is_loopback_name,
    is_private_address,
)

__all__ = ["METADATA_ADDRESSES", "Resolver", "TestRunPolicy", "split_host_pattern"]

# (host, port) → the IP addresses it resolves to, as strings (socket.getaddrinfo's answers).
Resolver = Callable[[str, int], Sequence[str]]
_DEFAULT_PORTS = {"http": 80, "https": 443}


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class TestRunPolicy:
    __test__ = False

    def __init__(
        self,
        *,
        run_id: str,
        environment: str,
        allowed_hosts: Sequence[str],
        allow_private_network: bool,
        resolver: Resolver | None = None,
    ) -> None:
        self.run_id = run_id
        self.environment = environment
        self.allowed_hosts = [pattern.lower() for pattern in allowed_hosts]
        self.allow_private_network = allow_private_network
        self.resolver = resolver or system_resolver

    def headers(self) -> Mapping[str, str]:
        return {"X-MeshHook-Test-Run": self.run_id}

    def check(self, url: str) -> tuple[str, ...]:
        # httpx's own parser, so the host checked is the host the request goes to.
        try:
            parsed = httpx.URL(url)
            host = parsed.raw_host.decode("ascii").lower()
        except (httpx.InvalidURL, UnicodeError):
            host = ""
        if not host or parsed.scheme not in ("http", "https"):
            raise PolicyViolation(f"Only http(s) URLs can be called, not '{url}'.")
        shown = parsed.host
        port = parsed.port or _DEFAULT_PORTS[parsed.scheme]
        explicit = self._explicitly_allowed(host, port)
        if not explicit and not self._matches_a_pattern(host, port):
            raise PolicyViolation(
                f"Host '{shown}' is not on the allowlist of environment '{self.environment}'."
            )
        literal = ip_literal(host) is not None
        addresses = self._addresses(host, port, shown)
        for address in addresses:
            if not is_private_address(address):
                continue
            what = "is" if literal else "resolves to"
            refused = f"Host '{shown}' {what} the private address {describe_address(address)}"
            if not self.allow_private_network:
                raise PolicyViolation(
                    f"{refused}, which environment '{self.environment}' does not allow."
                )
            if not explicit:
                entry = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
                raise PolicyViolation(
                    f"{refused}; environment '{self.environment}' allows private addresses "
                    f"only through an allowlist entry naming the host and its port, "
                    f"such as '{entry}'."
                )
        return tuple(str(address) for address in addresses)

    def _explicitly_allowed(self, host: str, port: int) -> bool:
        """An entry naming exactly this host and port: the only kind that opens a private
        address (a wildcard or a port-less entry would open every port of the machine)."""
        return any(
            split_host_pattern(pattern) == (host, port)
            for pattern in self.allowed_hosts
            if "*" not in pattern
        )

    def _matches_a_pattern(self, host: str, port: int) -> bool:
        for pattern in self.allowed_hosts:
            pattern_host, pattern_port = split_host_pattern(pattern)
            if pattern_port is not None and pattern_port != port:
                continue
            if fnmatch.fnmatchcase(host, pattern_host):
                return True
        return False

    def _addresses(self, host: str, port: int, shown: str) -> list[IPAddress]:
        literal = ip_literal(host)
        if literal is not None:
            return [literal]
        if is_loopback_name(host):
            # Resolvers answer `localhost` and `*.localhost` with loopback whatever DNS says.
            return [ipaddress.ip_address(address) for address in LOOPBACK_ADDRESSES]
        try:
            answers = self.resolver(host, port)
        except OSError as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise PolicyViolation(f"Host '{shown}' cannot be resolved: {reason}.") from None
        addresses: list[IPAddress] = []
        for answer in answers:
            address = ip_literal(str(answer))
            if address is None:
                raise PolicyViolation(f"Host '{shown}' resolved to '{answer}', not an address.")
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise PolicyViolation(f"Host '{shown}' resolves to no address.")
        return addresses


def split_host_pattern(pattern: str) -> tuple[str, int | None]:
    """`api.example.com`, `*.example.org`, `127.0.0.1:8025`, `[::1]:8000` → (host, port)."""
    if pattern.startswith("["):
        host, _, rest = pattern[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif pattern.count(":") == 1:
        host, _, port = pattern.partition(":")
    else:
        host, port = pattern, ""
    return host, int(port) if port.isdigit() else None
