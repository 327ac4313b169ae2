"""Stand-ins for the network in SSRF tests: DNS answers chosen by the test, a guard that
refuses to connect anywhere but loopback, and a loopback listener that counts connections.

Tests about private, metadata or public addresses must never open a socket to one: the
guard makes any such connect fail at once (and records it), and FakeDNS keeps name lookups
in-process.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


class FakeDNS:
    """Answers names from a table: each name's answers are used in turn, the last one kept.

    Usable as a `TestRunPolicy` resolver (`dns(host, port)`) and in place of
    `socket.getaddrinfo` (`dns.getaddrinfo`), where numeric hosts are parsed as the system
    would (no lookup) and unknown names fail as NXDOMAIN does.
    """

    def __init__(self, answers: Mapping[str, Sequence[Sequence[str]]] | None = None) -> None:
        self.answers = {name: [list(a) for a in seq] for name, seq in (answers or {}).items()}
        self.lookups: dict[str, int] = {}

    def __call__(self, host: str, port: int) -> list[str]:
        key = host.lower()
        if key not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        count = self.lookups.get(key, 0)
        self.lookups[key] = count + 1
        answers = self.answers[key]
        return list(answers[min(count, len(answers) - 1)])

    def getaddrinfo(
        self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            return _real_getaddrinfo(name, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        except socket.gaierror:
            pass
        infos: list[Any] = []
        for address in self(name, int(port or 0)):
            parsed = ipaddress.ip_address(address)
            if parsed.version == 6:
                infos.append(
                    (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, int(port or 0), 0, 0))
                )
            else:
                infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 0))))
        return infos


@dataclass
class ConnectGuard:
    """Lets sockets connect to loopback only; every other attempt is refused and recorded,
    unless `stand_ins` maps it to a loopback listener playing that (public) server."""

    refused: list[tuple[str, int]] = field(default_factory=list)
    stand_ins: dict[tuple[str, int], tuple[str, int]] = field(default_factory=dict)

    def _allowed(self, address: Any) -> bool:
        if not isinstance(address, tuple):
            return True  # a unix socket
        host = str(address[0]).partition("%")[0]
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def connect(self, sock: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and (address[0], address[1]) in self.stand_ins:
            _real_connect(sock, self.stand_ins[(address[0], address[1])])
            return
        if not self._allowed(address):
            self.refused.append((str(address[0]), int(address[1])))
            raise ConnectionRefusedError(111, "refused by the test's connect guard")
        _real_connect(sock, address)

    def connect_ex(self, sock: socket.socket, address: Any) -> int:
        if not self._allowed(address):
            self.refused.append((str(address[0]), int(address[1])))
            return 111
        return _real_connect_ex(sock, address)


@contextmanager
def guarded_network(dns: FakeDNS | None = None) -> Iterator[ConnectGuard]:
    """No connection but to loopback, and (with `dns`) no lookup but in `dns`."""
    guard = ConnectGuard()

    def connect(sock: Any, address: Any) -> None:
        guard.connect(sock, address)

    def connect_ex(sock: Any, address: Any) -> int:
        return guard.connect_ex(sock, address)

    saved = (socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo)
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    if dns is not None:
        socket.getaddrinfo = dns.getaddrinfo
    try:
        yield guard
    finally:
        socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = saved  # type: ignore[method-assign]


class CountingListener:
    """A TCP listener on 127.0.0.1 that counts connections and answers each with one HTTP
    response (200 "ok" unless told otherwise), optionally over TLS."""

    def __init__(self, response: bytes | None = None, tls: ssl.SSLContext | None = None) -> None:
        self.response = response or (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
            b"Connection: close\r\n\r\nok"
        )
        self.tls = tls
        self.connections = 0
        self.requests: list[bytes] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> CountingListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self.connections += 1
            try:
                self._answer(conn)
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        if self.tls is not None:
            conn = self.tls.wrap_socket(conn, server_side=True)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        self.requests.append(data)
        conn.sendall(self.response)


def redirect_response(location: str) -> bytes:
    return (
        f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n"
        "Connection: close\r\n\r\n"
    ).encode()


@dataclass(frozen=True)
class Certificates:
    ca_pem: bytes
    server: ssl.SSLContext

    def client(self) -> ssl.SSLContext:
        """A client context trusting only this test's authority, verifying host names."""
        return ssl.create_default_context(cadata=self.ca_pem.decode())


def certificates(*names: str, tmp_dir: Any) -> Certificates:
    """A throw-away certificate authority and a server certificate for `names`."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "MeshHook test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_file = tmp_dir / "server.pem"
    key_file = tmp_dir / "server.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    return Certificates(ca.public_bytes(serialization.Encoding.PEM), server)
