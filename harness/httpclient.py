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
import zlib
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
    end: str  #: "FIN", "RST", "idle" (nothing moved for ``idle`` s), "timeout", "limit" (too much came back),
    #: or "complete" (the response was whole by its framing before any close: see :func:`converse`)
    seconds: float
    write_error: str = ""  #: why writing the request stopped early, if it did
    status: int | None = None
    version: str = ""  #: of the status line, e.g. "HTTP/1.1"
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
            "complete": f"the response was whole after {self.seconds:.1f} s (the connection was not closed yet)",
        }[self.end]

    def describe(self) -> str:
        """``200 OK, 1234 B of body, then ...`` or what came instead of a response."""
        if self.status is None:
            what = "no response" if not self.raw else f"{len(self.raw)} B that are not an HTTP response"
            return f"{what}; {self.ending()}"
        return f"{self.status} {self.reason}".rstrip() + f" with {len(self.body)} B of body; {self.ending()}"


_STATUS = re.compile(rb"(HTTP/\d\.\d) (\d{3})(?: ([^\r\n]*))?")


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
    reply.version = match.group(1).decode("ascii")
    reply.status = int(match.group(2))
    reply.reason = (match.group(3) or b"").decode("latin-1")
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
    sock: socket.socket,
    pieces: list[bytes],
    pause: float,
    limit: int,
    deadline: float,
    idle: float,
    complete: Callable[[bytes], bool] | None = None,
    raw: bytearray | None = None,
) -> tuple[bytearray, str, str]:
    """Write ``pieces`` while reading into ``raw`` until the server closes, a bound is hit, or (with
    ``complete``) what was read satisfies ``complete``; returns what was read, how it ended, a write error."""
    raw = bytearray() if raw is None else raw
    if complete is not None and complete(bytes(raw)):
        return raw, "complete", ""
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
                        if complete is not None and complete(bytes(raw)):
                            return raw, "complete", write_error
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


def response_length(raw: bytes, method: str = "GET") -> int | None:
    """How many bytes of ``raw`` the first response takes once it is whole, by its own framing (no body after
    HEAD, 1xx, 204 and 304; ``Transfer-Encoding: chunked``; ``Content-Length``), or None: not whole yet, or
    framed only by the connection's close (no length, or a framing this cannot parse)."""
    head_end = raw.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head_end += 4
    reply = parse_reply(raw[:head_end], "FIN", 0.0)
    if reply.status is None:
        return None
    if method == "HEAD" or reply.status < 200 or reply.status in (204, 304):
        return head_end
    coding = ",".join(reply.headers.get("transfer-encoding", [])).lower()
    if coding:
        return _chunked_end(raw, head_end) if coding.replace(" ", "").endswith("chunked") else None
    lengths = set(reply.headers.get("content-length", []))
    if len(lengths) == 1 and (length := lengths.pop()).isdigit():
        return head_end + int(length) if len(raw) >= head_end + int(length) else None
    return None


def _chunked_end(raw: bytes, pos: int) -> int | None:
    """Where a chunked body starting at ``pos`` ends (after its trailers), or None if it is not whole yet."""
    while True:
        line_end = raw.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size_text = raw[pos:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return None  # malformed: only the close can end it; the judge says what is wrong
        pos = line_end + 2
        if size == 0:
            end = raw.find(b"\r\n\r\n", pos - 2)
            return None if end < 0 else end + 4
        pos += size + 2
        if pos > len(raw):
            return None


def decode_body(reply: Reply) -> tuple[bytes, str]:
    """The body of ``reply`` as the client's application sees it, undoing ``Transfer-Encoding: chunked``
    and a gzip or deflate ``Content-Encoding``; with a problem in words (empty when there is none)."""
    body = reply.body
    coding = ",".join(reply.headers.get("transfer-encoding", [])).lower().replace(" ", "")
    if coding:
        if coding != "chunked":
            return body, f"Transfer-Encoding: {coding}, which the client did not offer"
        body, problem = _dechunk(body)
        if problem:
            return body, problem
    encoding = ",".join(reply.headers.get("content-encoding", [])).lower().replace(" ", "")
    try:
        if encoding in ("gzip", "x-gzip"):
            body = zlib.decompress(body, 47)
        elif encoding == "deflate":
            try:
                body = zlib.decompress(body)
            except zlib.error:
                body = zlib.decompress(body, -15)  # raw deflate, as some servers send it
        elif encoding not in ("", "identity"):
            return body, f"Content-Encoding: {encoding}, which the client did not offer"
    except zlib.error as exc:
        return body, f"a body declared Content-Encoding: {encoding} does not decompress ({exc})"
    return body, ""


def _dechunk(body: bytes) -> tuple[bytes, str]:
    out, pos = bytearray(), 0
    while True:
        line_end = body.find(b"\r\n", pos)
        if line_end < 0:
            return bytes(out), f"the chunked body ends inside a chunk header after {len(out)} B"
        size_text = body[pos:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return bytes(out), f"a chunk size {size_text[:20]!r} that is not hexadecimal"
        pos = line_end + 2
        if size == 0:
            return bytes(out), ""
        if body[pos + size : pos + size + 2] != b"\r\n":
            return bytes(out) + body[pos : pos + size], f"a chunk of {size} B is cut off or not followed by CRLF"
        out += body[pos : pos + size]
        pos += size + 2


def persistent(reply: Reply) -> bool:
    """Whether a client may send its next request on the connection of ``reply`` (RFC 9112 section 9.3): not
    after ``Connection: close``; after an HTTP/1.1 response; after an HTTP/1.0 one with ``Connection: keep-alive``."""
    tokens = {t.strip().lower() for v in reply.headers.get("connection", []) for t in v.split(",")}
    if "close" in tokens:
        return False
    return reply.version == "HTTP/1.1" or (reply.version == "HTTP/1.0" and "keep-alive" in tokens)


def converse(
    address: Address,
    requests: Sequence[tuple[str, bytes]],
    options: CheckOptions,
    *,
    limit: int = 4 * MiB,
) -> list[Reply]:
    """Send each ``(method, request)`` on one connection, the next only once the previous response is whole,
    :func:`persistent`, and its connection still open, as a client reusing a connection does. One
    :class:`Reply` per response read (fewer when the server closed, declared the connection done, or stopped
    answering first). A reply whose connection stayed open ends ``"complete"``; the last one may end in
    ``"idle"`` (no whole response within ``options.idle`` seconds: a hang). Every wait is bounded; nothing
    the server does makes it raise once connected."""
    start = time.monotonic()
    deadline = start + options.timeout * max(len(requests), 1)
    replies: list[Reply] = []
    sock = connect(address, options.timeout)
    try:
        carry = bytearray()
        for method, request in requests:
            began = time.monotonic()
            write_error = ""
            try:
                sock.setblocking(True)
                sock.settimeout(options.timeout)
                sock.sendall(request)
            except OSError as exc:
                write_error = f"{exc.strerror or exc} before the request was sent"
            sock.setblocking(False)

            def whole(raw: bytes, method: str = method) -> bool:
                return response_length(raw, method) is not None

            raw, end, _ = _pump(sock, [], 0.0, limit, deadline, options.idle, whole, carry)
            length = response_length(bytes(raw), method) if end == "complete" else None
            carry = bytearray(raw[length:]) if length is not None else bytearray()
            kept = bytes(raw[:length]) if length is not None else bytes(raw)
            reply = parse_reply(kept, end, time.monotonic() - began, write_error)
            replies.append(reply)
            if end != "complete" or not persistent(reply):
                break
    finally:
        sock.close()
    return replies


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


__all__ = [
    "Reply",
    "Session",
    "converse",
    "decode_body",
    "fetch",
    "parse_reply",
    "persistent",
    "request_bytes",
    "response_length",
    "snippet",
    "split",
]
