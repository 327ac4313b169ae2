"""A minimal asyncio websocket client (RFC 6455, text frames) and the frame parser.

Small on purpose: the bench needs to connect with a session cookie, send one JSON
message and time every frame it receives, and nothing installed with the project
offers an asyncio client with an await-the-next-message API.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import struct
import time
from dataclasses import dataclass

from bench.stats import BenchError

# The live view marks every log line with its event's seq; the exact markup around it
# (full fragments today, deltas tomorrow) is not this parser's business.
SEQ_RE = re.compile(r'(?<![\w-])data-seq="(\d+)"')
TAG_RE = re.compile(r'<[^<>]*?(?<![\w-])data-seq="(\d+)"[^<>]*>')
TYPE_RE = re.compile(r'(?<![\w-])data-type="([a-z_]+)"')


def frame_seqs(html: str) -> list[int]:
    """The event seqs a pushed fragment carries, in document order."""
    return [int(found) for found in SEQ_RE.findall(html)]


def frame_types(html: str) -> dict[int, str]:
    """seq → event type, where the fragment says (used to spot `run_finished` and such)."""
    found: dict[int, str] = {}
    for tag in TAG_RE.finditer(html):
        kind = TYPE_RE.search(tag.group(0))
        if kind:
            found[int(tag.group(1))] = kind.group(1)
    return found


@dataclass(frozen=True)
class Frame:
    received: float  # time.perf_counter()
    wall: float  # time.time(), to compare with event timestamps
    text: str


class WebSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.closed: int | None = None  # close code once the server closed

    @classmethod
    async def connect(
        cls, host: str, port: int, path: str, *, cookie: str, timeout: float = 10.0
    ) -> WebSocket:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nOrigin: http://{host}:{port}\r\n"
            f"Cookie: {cookie}\r\n\r\n"
        )
        writer.write(request.encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            writer.close()
            raise BenchError(f"websocket {path}: {status.decode(errors='replace')}")
        return cls(reader, writer)

    async def send_text(self, text: str) -> None:
        await self._send(0x1, text.encode())

    async def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(header + mask + masked)
        await self.writer.drain()

    async def receive(self, timeout: float) -> Frame | None:
        """The next text message, or None once the server has closed the socket."""
        parts: list[bytes] = []
        while True:
            first, second = await asyncio.wait_for(self.reader.readexactly(2), timeout)
            opcode, size = first & 0x0F, second & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
            payload = await asyncio.wait_for(self.reader.readexactly(size), timeout)
            if opcode == 0x8:  # close
                self.closed = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                return None
            if opcode == 0x9:  # ping
                await self._send(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            parts.append(payload)
            if first & 0x80:  # FIN: the message is complete
                return Frame(time.perf_counter(), time.time(), b"".join(parts).decode())

    async def close(self) -> None:
        try:
            if self.closed is None:
                await self._send(0x8, struct.pack("!H", 1000))
        except (ConnectionError, RuntimeError):
            pass
        self.writer.close()
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(self.writer.wait_closed(), 2)
