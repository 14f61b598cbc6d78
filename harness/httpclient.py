"""One HTTP/1.0 exchange on the wire, from the client side, and its standalone reproducer.

:func:`fetch` opens one connection per request, writes the request (optionally in pieces with pauses, each
its own TCP segment) while reading, and reads until the server closes. Every wait is bounded (an overall
timeout and an idle limit) and so is what is kept. Once connected, nothing the server does makes it raise:
how the connection ended is part of the :class:`Reply`. :func:`snippet` writes a standard-library program that
sends the same bytes in the same pieces, and a :class:`Session` attaches one to every fault it raises.
"""

from __future__ import annotations

import hashlib
import re
import selectors
import socket
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import ServerFault, ServerWarning
from .net import Address, connect, format_address
from .reproduce import SERVER_PIDS, script
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
            "limit": f"far more bytes than expected came back ({len(self.raw)} B; the client stopped reading)",
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


#: what a correct server answers, as a reproducer judges it; every key present applies (see :data:`HTTP_JUDGE`):
#: ``file`` {length, sha256, head}: 200, that Content-Length, exactly those bytes (none after HEAD), then a close;
#: ``client`` {length, sha256}: 200 and the file, framed and encoded in any way HTTP allows (Content-Length,
#: chunked or the close; gzip or deflate), the connection kept open or not; ``range`` {first, last, size, part,
#: whole}: 206 with that Content-Range and the part, or the ``client`` answer for the whole file; ``absolute``
#: {client, version}: the file, or (for an HTTP/1.0 ``version``) a 4xx; ``status``/``ranges``: one of those
#: statuses; ``bad_ranges``: a status outside those ranges; ``type``: one of those media types; ``leak``: no 2xx
#: whose body is (or holds) those bytes, and no hang without a status; ``answer_within``: a status or a close
#: within that many seconds; ``stalled``: first, another client sends these bytes and keeps its connection
#: open; ``rss`` {size}: while the client reads nothing, the server's memory grows by less than 3/4 of that size;
#: ``conversation``: [[request, expectation], ...] sent on one connection, each once the previous response is
#: whole and the server kept the connection (the request given to :func:`snippet` is then not sent).
Expect = Mapping[str, object]


def expect_file(data: bytes, method: str = "GET") -> dict[str, object]:
    """The answer to ``method`` of a file holding ``data``, as :func:`harness.checks.http.file_problem` judges it."""
    return {"file": {"length": len(data), "sha256": hashlib.sha256(data).hexdigest(), "head": method == "HEAD"}}


def expect_client(data: bytes) -> dict[str, object]:
    """A real client's GET of a file holding ``data``, as :func:`harness.checks.http.client_problem` judges it."""
    return {"client": {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}}


def expect_range(data: bytes, first: int, last: int) -> dict[str, object]:
    """A GET of bytes ``first`` to ``last`` (inclusive) of a file holding ``data``: 206 with exactly them, or 200."""
    part = hashlib.sha256(data[first : last + 1]).hexdigest()
    return {"range": {"first": first, "last": last, "size": len(data), "part": part, **expect_client(data)}}


def expect_status(*codes: int, ranges: Sequence[tuple[int, int]] = ()) -> dict[str, object]:
    """A response whose status is one of ``codes`` or within one of the inclusive ``ranges``."""
    return {"status": sorted(codes), "ranges": [list(r) for r in ranges]}


#: the http-file oracle, in a reproducer: exchanges on the wire, and the judging of a response by an expectation
HTTP_JUDGE = r'''

import hashlib, re, zlib


def response_end(raw, method="GET"):
    """Where the first response in ``raw`` ends by its own framing (Content-Length, chunked, no body), or None
    (not whole yet, or framed by the close only)."""
    head_end = raw.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    version, status, headers, _ = parse(raw[:head_end + 4])
    if status is None:
        return None
    if method == "HEAD" or status < 200 or status in (204, 304):
        return head_end + 4
    if "chunked" in ",".join(headers.get("transfer-encoding", [])).lower():
        pos = head_end + 4
        while True:
            line_end = raw.find(b"\r\n", pos)
            if line_end < 0:
                return None
            try:
                size = int(raw[pos:line_end].split(b";")[0].strip(), 16)
            except ValueError:
                return None
            if size == 0:
                end = raw.find(b"\r\n\r\n", line_end - 2)
                return None if end < 0 else end + 4
            pos = line_end + 2 + size + 2
            if pos > len(raw):
                return None
    lengths = set(headers.get("content-length", []))
    if len(lengths) == 1 and (length := lengths.pop()).isdigit():
        return head_end + 4 + int(length) if len(raw) >= head_end + 4 + int(length) else None
    return None


def parse(raw):
    """(version, status or None, headers: lower-case name -> values, body) of one response."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, _, body = raw.partition(b"\n\n")
    lines = head.split(b"\n")
    match = re.match(rb"(HTTP/\d\.\d) (\d{3})", lines[0])
    if not match:
        return "", None, {}, b""
    headers = {}
    for line in lines[1:]:
        name, colon, value = line.rstrip(b"\r").partition(b":")
        if colon:
            headers.setdefault(name.strip().decode("latin-1").lower(), []).append(value.strip().decode("latin-1"))
    return match.group(1).decode(), int(match.group(2)), headers, body


def read_response(sock, wait, idle, framed, pause=0.0):
    """Read until the server closes (or, ``framed``, until a whole response came), keeping at most LIMIT bytes
    (what the expectation's largest file needs, and a margin): (raw, how it ended)."""
    raw, end, start = bytearray(), None, time.monotonic()
    while True:
        if framed and response_end(bytes(raw)) is not None:
            return raw, "complete (the connection left open)"
        left = start + wait - time.monotonic()
        if left <= 0:
            return raw, f"the exchange was still going after {wait:g} s"
        data, end = receive(sock, 262144, min(idle + pause, left))
        if not data:
            return raw, end
        raw += data
        if len(raw) > LIMIT:
            return raw, f"far more bytes than expected came back (over {LIMIT} B, and still sending)"


def fetch(request, pieces=None, pause=0.0, wait=TIMEOUT, idle=IDLE, after_send=None, framed=False):
    """Send ``request`` on a new connection (in writes of the ``pieces`` sizes, ``pause`` s apart) while reading
    until the server closes (``framed``: or a whole response came), at most ``wait`` s in all and ``idle`` s of
    silence; with ``after_send``, send it whole, run after_send() (reading nothing meanwhile), then read.
    Returns (version, status or None, headers, body, how the connection ended)."""
    sock = connect()
    if after_send is not None:
        sock.sendall(request)
        after_send()
    else:
        def write():
            pos = 0
            try:
                for n, size in enumerate(pieces or [len(request)]):
                    if n and pause:
                        time.sleep(pause)
                    sock.sendall(request[pos:pos + size])
                    pos += size
            except OSError:
                pass  # the server closed or reset while the request was still going out: it answers or not

        threading.Thread(target=write, daemon=True).start()
    raw, end = read_response(sock, wait, idle, framed, pause)
    sock.close()
    return (*parse(bytes(raw)), end)


def closed(end):
    return end == "FIN" or end.startswith("RST")


def describe(status, body, end):
    return (f"{status} with {len(body)} B of body" if status else "no response") + f"; then {end}"


def decoded(headers, body):
    """The body as the client's application sees it (chunked and gzip/deflate undone), and what is wrong."""
    if "chunked" in ",".join(headers.get("transfer-encoding", [])).lower():
        out, pos = bytearray(), 0
        while True:
            line_end = body.find(b"\r\n", pos)
            try:
                size = int(body[pos:line_end].split(b";")[0].strip(), 16) if line_end >= 0 else -1
            except ValueError:
                size = -1
            if size < 0:
                return bytes(out), "a chunked body that does not parse"
            if size == 0:
                break
            out += body[line_end + 2:line_end + 2 + size]
            pos = line_end + 2 + size + 2
        body = bytes(out)
    encoding = ",".join(headers.get("content-encoding", [])).lower().replace(" ", "")
    try:
        if encoding in ("gzip", "x-gzip"):
            body = zlib.decompress(body, 47)
        elif encoding == "deflate":
            try:
                body = zlib.decompress(body)
            except zlib.error:
                body = zlib.decompress(body, -15)
        elif encoding not in ("", "identity"):
            return body, f"Content-Encoding: {encoding}, which the client did not offer"
    except zlib.error as exc:
        return body, f"a body declared Content-Encoding: {encoding} does not decompress ({exc})"
    return body, ""


def client_problem(f, status, headers, body, end):
    if status != 200:
        return f"expected 200 with the file, got {describe(status, body, end)}"
    if end.startswith(("nothing more came", "the exchange was still going")):
        return f"the response never ended: {len(body)} B of body, then {end}"
    chunked = bool(headers.get("transfer-encoding"))
    length = (headers.get("content-length") or [None])[-1]
    if not chunked and length is not None and length.isdigit() and int(length) != len(body):
        return f"Content-Length: {length}, but {len(body)} B of body came (then {end})"
    data, problem = decoded(headers, body)
    if problem:
        return problem
    if len(data) != f["length"] or hashlib.sha256(data).hexdigest() != f["sha256"]:
        return f"{len(data)} B that are not the {f['length']} B of the file"
    return None


def judge(expect, version, status, headers, body, end):
    """None if the response is what ``expect`` requires (see EXPECT), else what is wrong with it."""
    got = describe(status, body, end)
    if "file" in expect:
        f = expect["file"]
        lengths = headers.get("content-length", [])
        if status != 200:
            return f"expected 200 with the file, got {got}"
        if not lengths:
            return f"200 without a Content-Length header (the file has {f['length']} B)"
        if len(set(lengths)) > 1 or not lengths[0].isdigit() or int(lengths[0]) != f["length"]:
            return f"Content-Length: {', '.join(lengths)}, but the file has {f['length']} bytes"
        if f["head"] and body:
            return f"HEAD answered with {len(body)} B of body after the headers: HEAD must send headers only"
        if not f["head"] and (len(body) != f["length"] or hashlib.sha256(body).hexdigest() != f["sha256"]):
            return f"{len(body)} B of body that are not the {f['length']} B of the file; then {end}"
        if not closed(end):
            return f"the response was complete, but then {end}: an HTTP/1.0 server closes after each response"
    if "client" in expect:
        problem = client_problem(expect["client"], status, headers, body, end)
        if problem:
            return problem
    if "range" in expect:
        r = expect["range"]
        if status != 206:
            return client_problem(r["client"], status, headers, body, end)
        data, problem = decoded(headers, body)
        wanted = f"bytes {r['first']}-{r['last']}/{r['size']}"
        given = " ".join((headers.get("content-range") or [""])[-1].split())
        if not problem and given != wanted:
            problem = f"Content-Range: {given}" if given else "no Content-Range"
        if not problem and hashlib.sha256(data).hexdigest() != r["part"]:
            problem = f"{len(data)} B that are not the part asked for"
        if problem:
            return f"206 with {problem}; expected Content-Range: {wanted} and those bytes"
    if "absolute" in expect:
        a = expect["absolute"]
        if client_problem(a["client"], status, headers, body, end) is None:
            return None
        if status is None or (500 <= status < 600 and status not in (501, 505)) or status == 200:
            return client_problem(a["client"], status, headers, body, end)
        if a["version"] == "HTTP/1.1":
            return f"GET in the absolute form (HTTP/1.1) got {got}: every HTTP/1.1 server MUST accept it"
    if "status" in expect or "ranges" in expect:
        ok = status in expect.get("status", []) or any(a <= (status or 0) <= b for a, b in expect.get("ranges", []))
        if not ok:
            return f"expected status {expect.get('status', [])} or in {expect.get('ranges', [])}, got {got}"
    if "bad_ranges" in expect and (status is None or any(a <= status <= b for a, b in expect["bad_ranges"])):
        return f"expected an answer with a status that is not a server error, got {got}"
    if "type" in expect:
        media = (headers.get("content-type") or [""])[-1].split(";")[0].strip().lower()
        if media not in expect["type"]:
            return f"Content-Type {media or '(none)'}, expected one of {expect['type']}"
    if "leak" in expect:
        secret = expect["leak"]
        if secret and status and 200 <= status < 300 and (body == secret or (len(secret) >= 16 and secret in body)):
            return f"answered {status} with the bytes of a file outside the root: path traversal"
        if status is None and not closed(end):
            return f"no response, and the connection stayed open: {got}"
    if "answer_within" in expect and status is None and not closed(end):
        return f"an unfinished request got no answer and no close within {expect['answer_within']:g} s: {got}"
    return None


def persistent(version, headers):
    tokens = {t.strip().lower() for v in headers.get("connection", []) for t in v.split(",")}
    return "close" not in tokens and (version == "HTTP/1.1" or (version == "HTTP/1.0" and "keep-alive" in tokens))


def converse(conversation, wait=TIMEOUT):
    """Send each (request, expectation) on one connection, the next once the previous response is whole and
    the server kept the connection; None if each was answered as expected, else what went wrong."""
    sock = connect()
    try:
        for n, (request, expect) in enumerate(conversation):
            sock.sendall(request)
            raw, end = read_response(sock, wait, IDLE, framed=True)
            if n and not raw and closed(end):
                return None  # it closed the kept connection first: the client opens another, nothing is lost
            if n and not raw:
                return f"the server kept the connection open, but did not answer request {n + 1} sent on it: {end}"
            length = response_end(bytes(raw))
            version, status, headers, body = parse(bytes(raw[:length] if length else raw))
            problem = judge(expect, version, status, headers, body, end)
            if problem:
                return f"request {n + 1} on the connection: {problem}"
            if not end.startswith("complete") or not persistent(version, headers):
                return None
    finally:
        sock.close()
    return None
'''

_RSS = """
def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration, ValueError):
        return None
"""


def snippet(
    address: Address,
    request: bytes,
    *,
    expression: str | None = None,
    chunks: Sequence[int] = (),
    pause: float = 0.0,
    wait: float = 10.0,
    expect: Expect | None = None,
) -> str:
    """A reproducer that sends ``request`` (written as ``expression`` when given: long requests stay short) to
    ``address`` in the same pieces and judges the response by ``expect`` (see :data:`Expect`): exit 1 when it
    breaks the expectation, 0 when it meets it; without ``expect`` it prints the response and exits 2."""
    pieces = [len(p) for p in split(request, chunks)]
    expect = dict(expect or {})
    stalled, rss, conversation = expect.pop("stalled", None), expect.pop("rss", None), expect.pop("conversation", None)
    lines = [f"REQUEST = {expression or repr(request)}", f"EXPECT = {expect!r}"]
    limit = reply_limit([expect, stalled, rss, conversation])
    lines.append(f"LIMIT = {limit}  # the most a response may hold: the largest file expected, and {MARGIN >> 10} KiB")
    if len(pieces) > 1:
        lines.append(f"PIECES, PAUSE = {pieces!r}, {pause:g}  # written PAUSE s apart")
    idle = f", idle={wait:g}" if "answer_within" in expect else ""  # silence is what is judged: wait it out
    framed = ", framed=True" if {"client", "range", "absolute"} & set(expect) else ""  # may keep the connection
    call = "fetch(REQUEST" + (", PIECES, PAUSE" if len(pieces) > 1 else "") + f", wait={wait:g}{idle}{framed}"
    blocks = [HTTP_JUDGE]
    lines += ["", "", "def scenario():"]
    if conversation is not None:
        lines[:1] = [f"CONVERSATION = {conversation!r}  # (request, expectation), on one connection"]
        lines.append(f"    return converse(CONVERSATION, wait={wait:g})")
    elif stalled is not None:
        lines += [
            "    stalled = connect()  # another client sends only part of its request and waits",
            f"    stalled.sendall({stalled!r})",
            "    try:",
            f"        return judge(EXPECT, *{call}))",
            "    finally:",
            "        stalled.close()",
        ]
    elif rss is not None:
        size = int(rss["size"]) if isinstance(rss, Mapping) else 0
        blocks += [SERVER_PIDS, _RSS]
        lines += [
            "    pid = the_server()",
            "    before, peak = rss_kib(pid), [0]",
            "    if before is None:",
            "        raise CannotJudge(f'cannot read the memory of process {pid}')",
            "",
            "    def stall():  # read nothing for 0.5 s while sampling the server's memory",
            "        deadline = time.monotonic() + 0.5",
            "        while time.monotonic() < deadline:",
            "            peak[0] = max(peak[0], rss_kib(pid) or 0)",
            "            time.sleep(0.02)",
            "",
            f"    version, status, headers, body, end = {call}, after_send=stall)",
            "    grew = (peak[0] - before) * 1024",
            f"    if status == 200 and grew >= {size} * 3 // 4:",
            f"        return f'reading nothing, the server grew by {{grew >> 20}} MiB (a {size >> 20} MiB file)'",
            "    return judge(EXPECT, version, status, headers, body, end)",
        ]
    else:
        lines.append(f"    return judge(EXPECT, *{call}))")
    if expect or stalled is not None or rss is not None or conversation is not None:
        lines += ["", "", 'repeat(scenario, 1, "the response is what a correct server answers")']
    else:
        lines += [
            "",
            "",
            "try:",
            f"    version, status, headers, body, end = {call})",
            "    print('CANNOT JUDGE (no expectation recorded); the response was:', describe(status, body, end))",
            "except CannotJudge as exc:",
            "    print('CANNOT JUDGE:', exc)",
            "sys.exit(2)",
        ]
    about = "Replays the failing HTTP request."
    return script(address, about, "\n".join(lines), blocks=blocks, timeout=wait)


#: what a response may hold beyond the largest file it may carry (headers, chunk framing), in a reproducer
MARGIN = 64 * KiB
#: the most a reproducer keeps of a response that carries no file of a known size (as :func:`fetch`'s default)
DEFAULT_LIMIT = 4 * MiB


def reply_limit(expectation: object) -> int:
    """The most bytes a reproducer keeps of a response judged by ``expectation``: the largest ``length`` or
    ``size`` anywhere in it (a file, a range's whole file, a conversation's files) plus :data:`MARGIN`, or
    :data:`DEFAULT_LIMIT` when it names no size; past it the server is sending more than any correct answer
    holds."""
    sizes: list[int] = []

    def walk(value: object) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if key in ("length", "size") and isinstance(item, int):
                    sizes.append(item)
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    walk(expectation)
    return max(sizes) + MARGIN if sizes else DEFAULT_LIMIT


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
        expect: Expect | None = None,
        wait: float = 10.0,
    ) -> ServerFault:
        """A fault (or warning) for ``message``, noting a server that is no longer running; its reproducer
        replays ``request`` and judges the response by ``expect`` (see :data:`Expect`), waiting at most ``wait`` s."""
        if not self.target.alive():
            message += "; the server is no longer running (it crashed)"
        code = snippet(
            self.address, request, expression=expression, chunks=chunks, pause=pause, expect=expect, wait=wait
        )
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
