"""The outbound-request policy of a test run (DESIGN §4).

Only hosts on the environment's allowlist; no private, loopback, link-local or metadata
address (checked after DNS resolution, IPv4-mapped IPv6 included) unless the environment
allows private networks; every request carries X-MeshHook-Test-Run.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from meshhook.engine import PolicyViolation

# Cloud metadata services; those Python does not already class as non-global are listed.
METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("192.0.0.192"),  # Oracle Cloud
}


def _is_private(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
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


class TestRunPolicy:
    __test__ = False

    def __init__(
        self,
        *,
        run_id: str,
        environment: str,
        allowed_hosts: Sequence[str],
        allow_private_network: bool,
    ) -> None:
        self.run_id = run_id
        self.environment = environment
        self.allowed_hosts = [pattern.lower() for pattern in allowed_hosts]
        self.allow_private_network = allow_private_network

    def headers(self) -> Mapping[str, str]:
        return {"X-MeshHook-Test-Run": self.run_id}

    def check(self, url: str) -> None:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            raise PolicyViolation(f"Only http(s) URLs can be called, not '{url}'.")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if not self._allowed(host, port):
            raise PolicyViolation(
                f"Host '{host}' is not on the allowlist of environment '{self.environment}'."
            )
        if not self.allow_private_network:
            for address in self._resolve(host, port):
                if _is_private(address):
                    raise PolicyViolation(
                        f"Host '{host}' resolves to the private address {address}, which "
                        f"environment '{self.environment}' does not allow."
                    )

    def _allowed(self, host: str, port: int) -> bool:
        for pattern in self.allowed_hosts:
            pattern_host, pattern_port = split_host_pattern(pattern)
            if pattern_port is not None and pattern_port != port:
                continue
            if fnmatch.fnmatchcase(host, pattern_host):
                return True
        return False

    @staticmethod
    def _resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise PolicyViolation(f"Host '{host}' cannot be resolved: {exc.strerror}.") from None
        return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


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
