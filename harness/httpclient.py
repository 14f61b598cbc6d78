"""One HTTP/1.0 exchange on the wire, from the client side, and its standalone reproducer.

:func:`fetch` opens one connection per request, writes the request (optionally in pieces with pauses, each
its own TCP segment) while reading, and reads until the server closes. Every wait is bounded (an overall
timeout and an idle limit) and so is what is kept. Once connected, nothing the server does makes it raise:
how the connection ended is part of the :class:`Reply`. :func:`snippet` writes a standard-library program that
sends the same bytes in the same pieces, and a :class:`Session` attaches one to every fault it raises.
"""

from __future__ import annotations

import re
import selectors
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import ServerFault, ServerWarning
from .net import Address, connect, format_address
from .strategies import KiB, MiB
from .targets import Target

if TYPE_CHECKING:  # importing harness.checks at run time would import this module back through its checks
    from .checks.base import CheckOptions


@dataclass
class Reply:
    """What came back for one request: the raw bytes, how the connection ended, and the parsed response."""

    raw: bytes
    end: str  #: "FIN", "RST", "idle" (nothing moved for ``idle`` s), "timeout" or "limit" (too much came back)
    seconds: float
    write_error: str = ""  #: why writing the request stopped early, if it did
    status: int | None = None
    reason: str = ""
    headers: dict[str, list[str]] = field(default_factory=dict)  #: lower-case name -> every value
    body: bytes = b""
    complete_head: bool = False

    def header(self, name: str) -> str | None:
        """The (last) value of header ``name``, or None."""
        values = self.headers.get(name.lower())
        return values[-1] if values else None

    @property
    def closed(self) -> bool:
        """True when the server ended the connection (FIN or RST)."""
        return self.end in ("FIN", "RST")

    def ending(self) -> str:
        """How the connection ended, in words."""
        return {
            "FIN": f"the server closed the connection after {self.seconds:.1f} s",
            "RST": f"the server reset the connection (RST) after {self.seconds:.1f} s",
            "idle": f"nothing more came, and the connection was still open after {self.seconds:.1f} s",
            "timeout": f"the exchange was still going after {self.seconds:.1f} s",
            "limit": "far more bytes than expected came back",
        }[self.end]

    def describe(self) -> str:
        """``200 OK, 1234 B of body, then ...`` or what came instead of a response."""
        if self.status is None:
            what = "no response" if not self.raw else f"{len(self.raw)} B that are not an HTTP response"
            return f"{what}; {self.ending()}"
        return f"{self.status} {self.reason}".rstrip() + f" with {len(self.body)} B of body; {self.ending()}"


_STATUS = re.compile(rb"HTTP/\d\.\d (\d{3})(?: ([^\r\n]*))?")


def parse_reply(raw: bytes, end: str, seconds: float, write_error: str = "") -> Reply:
    """Split ``raw`` into status line, headers and body (a bare LF is accepted as a line end)."""
    reply = Reply(raw, end, seconds, write_error)
    crlf, lf = raw.find(b"\r\n\r\n"), raw.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        head, body = raw[:crlf], raw[crlf + 4 :]
    elif lf >= 0:
        head, body = raw[:lf], raw[lf + 2 :]
    else:
        head, body = raw, b""
    lines = head.split(b"\n")
    match = _STATUS.match(lines[0].rstrip(b"\r"))
    if match is None:
        return reply
    reply.status = int(match.group(1))
    reply.reason = (match.group(2) or b"").decode("latin-1")
    reply.complete_head = crlf >= 0 or lf >= 0
    reply.body = body
    for line in lines[1:]:
        name, colon, value = line.rstrip(b"\r").partition(b":")
        if colon:
            key = name.strip().decode("latin-1").lower()
            reply.headers.setdefault(key, []).append(value.strip().decode("latin-1"))
    return reply


def fetch(
    address: Address,
    request: bytes,
    options: CheckOptions,
    *,
    chunks: Sequence[int] = (),
    pause: float = 0.0,
    limit: int = 4 * MiB,
    timeout: float | None = None,
    idle: float | None = None,
    after_send: Callable[[], None] | None = None,
) -> Reply:
    """Send ``request`` on a new connection and read until the server closes; never raises for the server.

    ``chunks``: sizes of the first writes (the rest goes in one more), ``pause`` seconds apart, each its own
    TCP segment (TCP_NODELAY). Reading runs alongside writing, and writing stops once response bytes
    arrive or the server stops taking them. Bounded by ``timeout`` (default ``options.timeout``) overall
    and by ``idle`` (default ``options.idle``) seconds without a byte moving (pauses excepted); at most
    ``limit`` bytes are kept. With ``after_send``, the request is sent whole first, then ``after_send()``
    runs (the client reads nothing meanwhile), then the response is read.
    """
    timeout = options.timeout if timeout is None else timeout
    idle = options.idle if idle is None else idle
    start = time.monotonic()
    sock = connect(address, timeout)
    try:
        pieces = split(request, chunks)
        if after_send is not None:
            sock.sendall(request)
            pieces = []
            after_send()
        sock.setblocking(False)
        raw, end, write_error = _pump(sock, pieces, pause, limit, start + timeout, idle)
    finally:
        sock.close()
    return parse_reply(bytes(raw), end, time.monotonic() - start, write_error)


def split(request: bytes, chunks: Sequence[int]) -> list[bytes]:
    """``request`` cut into pieces of the sizes in ``chunks``, then the rest (no empty pieces)."""
    pieces, pos = [], 0
    for size in chunks:
        if pos >= len(request):
            break
        pieces.append(request[pos : pos + size])
        pos += size
    if pos < len(request):
        pieces.append(request[pos:])
    return pieces


def _pump(
    sock: socket.socket, pieces: list[bytes], pause: float, limit: int, deadline: float, idle: float
) -> tuple[bytearray, str, str]:
    raw = bytearray()
    write_error = ""
    index, offset = 0, 0
    next_write = time.monotonic()
    last_moved = next_write
    with selectors.DefaultSelector() as sel:
        sel.register(sock, selectors.EVENT_READ)
        while True:
            now = time.monotonic()
            writing = index < len(pieces) and not raw and not write_error
            due = writing and now >= next_write
            if writing and not due:
                last_moved = max(last_moved, next_write)  # a pause of ours is not the server idling
            if now >= deadline:
                return raw, "timeout", write_error
            if now - last_moved >= idle and not (writing and not due):
                return raw, "idle", write_error
            sel.modify(sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if due else 0))
            wait = min(deadline - now, max(0.0, last_moved + idle - now))
            if writing and not due:
                wait = min(wait, next_write - now)
            for _, events in sel.select(max(wait, 0.0)):
                if events & selectors.EVENT_READ:
                    try:
                        data = sock.recv(256 * KiB)
                    except BlockingIOError:
                        data = None
                    except ConnectionResetError:
                        return raw, "RST", write_error
                    if data == b"":
                        return raw, "FIN", write_error
                    if data:
                        raw += data
                        last_moved = time.monotonic()
                        if len(raw) > limit:
                            return raw, "limit", write_error
                if events & selectors.EVENT_WRITE:
                    try:
                        sent = sock.send(pieces[index][offset:])
                    except BlockingIOError:
                        sent = 0
                    except OSError as exc:  # the server closed or reset while we were still writing
                        write_error = f"{exc.strerror or exc} after {sum(map(len, pieces[:index])) + offset} B"
                        sent = 0
                    if sent:
                        offset += sent
                        last_moved = time.monotonic()
                        if offset == len(pieces[index]):
                            index, offset = index + 1, 0
                            next_write = last_moved + pause


def snippet(
    address: Address,
    request: bytes,
    *,
    expression: str | None = None,
    chunks: Sequence[int] = (),
    pause: float = 0.0,
    wait: float = 10.0,
) -> str:
    """A standalone program that sends ``request`` (written as ``expression`` when given: long requests stay
    short) to ``address`` in the same pieces, and prints the response."""
    lines = [
        "# Replays the failing request against the server (standard library only).",
        "import socket, time",
        "",
        f"ADDRESS = {address!r}",
        f"REQUEST = {expression or repr(request)}",
    ]
    pieces = [len(p) for p in split(request, chunks)]
    if len(pieces) > 1:
        lines.append(f"PIECES = {pieces!r}  # written {pause:g} s apart")
    lines += ["", f"sock = socket.create_connection(ADDRESS, timeout={wait:g})"]
    if len(pieces) > 1:
        lines += [
            "pos = 0",
            "for size in PIECES:",
            "    sock.sendall(REQUEST[pos : pos + size])",
            "    pos += size",
            f"    time.sleep({pause:g})",
        ]
    else:
        lines.append("sock.sendall(REQUEST)")
    lines += [
        "response = b''",
        "try:",
        "    while data := sock.recv(65536):",
        "        response += data",
        "except OSError as exc:  # a reset (RST) or the timeout",
        "    print('connection ended with', repr(exc))",
        "head, _, body = response.partition(b'\\r\\n\\r\\n')",
        "print(head.decode('latin-1'))",
        "print(f'-- {len(body)} bytes of body:', body[:300])",
    ]
    return "\n".join(lines) + "\n"


def request_bytes(method: str, url: str, address: Address, extra: Sequence[str] = ()) -> bytes:
    """An HTTP/1.0 request head for ``url`` with Host and User-Agent headers (and ``extra`` header lines)."""
    lines = [f"{method} {url} HTTP/1.0", f"Host: {format_address(address)}", "User-Agent: socket-harness", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Session:
    """The exchanges of one check against one target: each failure carries its reproducer."""

    def __init__(self, target: Target, options: CheckOptions) -> None:
        self.target = target
        self.options = options

    @property
    def address(self) -> Address:
        return self.target.address

    def request(self, method: str, url: str, extra: Sequence[str] = ()) -> bytes:
        return request_bytes(method, url, self.address, extra)

    def send(
        self,
        request: bytes,
        *,
        chunks: Sequence[int] = (),
        pause: float = 0.0,
        limit: int = 4 * MiB,
        timeout: float | None = None,
        idle: float | None = None,
        after_send: Callable[[], None] | None = None,
    ) -> Reply:
        """:func:`fetch` against this target."""
        return fetch(
            self.address,
            request,
            self.options,
            chunks=chunks,
            pause=pause,
            limit=limit,
            timeout=timeout,
            idle=idle,
            after_send=after_send,
        )

    def fault(
        self,
        message: str,
        request: bytes,
        *,
        expression: str | None = None,
        chunks: Sequence[int] = (),
        pause: float = 0.0,
        warn: bool = False,
    ) -> ServerFault:
        """A fault (or warning) for ``message``, noting a server that is no longer running."""
        if not self.target.alive():
            message += "; the server is no longer running (it crashed)"
        code = snippet(self.address, request, expression=expression, chunks=chunks, pause=pause)
        return (ServerWarning if warn else ServerFault)(message, reproducer=code)


__all__ = ["Reply", "Session", "fetch", "parse_reply", "request_bytes", "snippet", "split"]
