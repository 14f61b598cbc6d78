"""http-file checks: an HTTP/1.0 file server serves exactly the files under its root, and nothing outside it.

Every check judges what any server does on the wire, from what it finds in ``options.root`` (the directory
the server serves, scanned by :mod:`harness.httproot`, whose ``make_root`` builds a fixture tree when the
user gives none): it requests a varied sample of the files under it and compares each response with the bytes on
disk, and it aims generated traversal paths at the files outside it. A 2xx response whose body holds the
bytes of one of those is a path traversal, whatever the request was.

Each exchange is one connection (:func:`harness.httpclient.fetch`), every wait bounded by
``options.timeout`` and ``options.idle``. A failure carries a standalone snippet that sends the same bytes
with ``socket.create_connection``.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
import urllib.parse
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hypothesis import strategies as st

from .. import sysinfo
from ..errors import CheckSkipped
from ..httpclient import (
    Reply,
    Session,
    converse,
    decode_body,
    expect_client,
    expect_file,
    expect_range,
    expect_status,
    request_bytes,
    snippet,
    split,
)
from ..httproot import EXPECTED_TYPES, OUTSIDE_MAX_SIZE, Item, Root, scan_root
from ..net import Address, connect, format_address
from ..strategies import KiB, MiB
from ..targets import Target
from ..waiting import poll_until
from .base import CheckOptions, Verdict, check, examples_for, falsify

PROTOCOLS = ("http-file",)

# -- shared judging ---------------------------------------------------------------------------------------


def _root(options: CheckOptions) -> Root:
    if options.root is None:
        raise CheckSkipped("the http-file checks need the directory the server serves: give --root DIR")
    if not os.path.isdir(options.root):
        raise CheckSkipped(f"--root {options.root!r} is not a directory")
    return scan_root(options.root)


def _sample(view: Root) -> list[Item]:
    if not view.sample:
        raise CheckSkipped(f"no readable file under {view.root} to request")
    return view.sample


def file_problem(reply: Reply, data: bytes, method: str = "GET") -> str | None:
    """What is wrong with ``reply`` as the answer to ``method`` of a file holding ``data``, or None."""
    if reply.status != 200:
        return f"expected 200 with the file, got {reply.describe()}"
    lengths = reply.headers.get("content-length", [])
    if not lengths:
        return (
            "200 without a Content-Length header: the client cannot tell a complete file from a cut-off one "
            f"(send Content-Length: {len(data)})"
        )
    if len(set(lengths)) > 1 or not lengths[0].isdigit():
        return f"invalid Content-Length {', '.join(lengths)!r} for a {len(data)}-byte file"
    if int(lengths[0]) != len(data):
        return f"Content-Length: {lengths[0]}, but the file has {len(data)} bytes (count bytes, not characters)"
    if method == "HEAD":
        if reply.body:
            return f"HEAD answered with {len(reply.body)} B of body after the headers: HEAD must send headers only"
    elif reply.body != data:
        if len(reply.body) != len(data):
            return f"{len(reply.body)} B of body for a {len(data)}-byte file ({reply.ending()})"
        first = next(i for i, (a, b) in enumerate(zip(reply.body, data, strict=True)) if a != b)
        return f"the body differs from the file at byte {first} (is the file read or sent as text?)"
    if not reply.closed:
        return f"the response was complete, but {reply.ending()}: an HTTP/1.0 server closes after each response"
    return None


def _still_serving(s: Session, view: Root) -> None:
    """Fail unless a plain GET of a small file still works (after abuse)."""
    item = view.file()
    request = s.request("GET", item.url)
    problem = file_problem(s.send(request), item.data())
    if problem is not None:
        raise s.fault(f"afterwards, a plain GET {item.url} failed: {problem}", request, expect=expect_file(item.data()))


def _first_line(request: bytes) -> str:
    line = request.split(b"\r\n", 1)[0]
    return repr(line[:120]) + ("..." if len(line) > 120 else "")


# -- the checks -------------------------------------------------------------------------------------------


@check(
    "http.get",
    "GET of each sampled file (text, HTML, images, binary, nested, encoded names) answers 200, the exact bytes "
    "and a correct Content-Length, then closes",
    protocols=PROTOCOLS,
)
def get(target: Target, options: CheckOptions) -> str:
    view, s = _root(options), Session(target, options)
    for item in _sample(view):
        data = item.data()
        request = s.request("GET", item.url)
        problem = file_problem(s.send(request, limit=len(data) + 64 * KiB), data)
        if problem is not None:
            raise s.fault(f"GET {item.url}: {problem}", request, expect=expect_file(data))
    kinds = " ".join(sorted({f.ext or "(none)" for f in view.sample}))
    return f"{len(view.sample)} files served byte-identical ({kinds})"


@check(
    "http.content-type",
    "each file is served with the Content-Type of its extension (text/html, text/plain, image/png, image/jpeg...)",
    protocols=PROTOCOLS,
)
def content_type(target: Target, options: CheckOptions) -> str:
    view, s = _root(options), Session(target, options)
    judged = 0
    for item in _sample(view):
        expected = EXPECTED_TYPES.get(item.ext)
        if expected is None:
            continue
        request = s.request("HEAD", item.url)
        reply = s.send(request)
        typed = {**expect_status(200), "type": sorted(expected)}
        if reply.status != 200:
            raise s.fault(f"HEAD {item.url}: expected 200, got {reply.describe()}", request, expect=typed)
        got = reply.header("content-type")
        if got is None:
            raise s.fault(
                f"HEAD {item.url}: no Content-Type header (expected {' or '.join(sorted(expected))})",
                request,
                expect=typed,
            )
        media = got.split(";")[0].strip().lower()
        if media not in expected:
            raise s.fault(
                f"{item.url} is served as Content-Type: {got}, expected {' or '.join(sorted(expected))}: "
                "derive the type from the extension (mimetypes.guess_type)",
                request,
                expect=typed,
            )
        judged += 1
    if not judged:
        raise CheckSkipped("no sampled file has an extension with a well-known type (.html, .txt, .png, .jpg...)")
    return f"{judged} files served with the type of their extension"


@check(
    "http.head",
    "HEAD answers 200 with the same Content-Length as GET and no body",
    protocols=PROTOCOLS,
)
def head(target: Target, options: CheckOptions) -> str:
    view, s = _root(options), Session(target, options)
    items = _sample(view)[:8] + ([view.largest] if view.largest and view.largest not in view.sample else [])
    for item in items:
        request = s.request("HEAD", item.url)
        problem = file_problem(s.send(request, limit=item.size + 64 * KiB), item.data(), "HEAD")
        if problem is not None:
            raise s.fault(f"HEAD {item.url}: {problem}", request, expect=expect_file(item.data(), "HEAD"))
    return f"{len(items)} HEAD requests answered with headers only"


def _missing_names(view: Root) -> st.SearchStrategy[str]:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_."
    names = st.text(alphabet, min_size=1, max_size=24).filter(lambda n: not n.startswith("."))
    ext = st.sampled_from(["", ".txt", ".html", ".png", ".jpg", ".bin"])
    dirs = st.sampled_from(["", "no-such-dir/", "sub/missing-"])
    return st.builds(lambda d, n, e: f"/{d}{n}{e}", dirs, names, ext).filter(
        lambda url: not os.path.lexists(os.path.join(view.root, url.lstrip("/")))
    )


@check(
    "http.not-found",
    "GET of a file that does not exist answers 404 (no crash, no 500), and the server keeps serving",
    weight=0.5,
    protocols=PROTOCOLS,
)
def not_found(target: Target, options: CheckOptions) -> str:
    view, s = _root(options), Session(target, options)
    _sample(view)

    def body(url: str) -> None:
        request = s.request("GET", url)
        reply = s.send(request)
        if reply.status != 404:
            raise s.fault(
                f"GET {url} (no such file): expected 404 Not Found, got {reply.describe()}",
                request,
                expect=expect_status(404),
            )

    token = f"{random.Random().getrandbits(32):08x}"
    for url in (f"/no-such-file-{token}.txt", f"/no-such-dir-{token}/index.html"):
        if not os.path.lexists(os.path.join(view.root, url.lstrip("/"))):
            body(url)
    n = falsify(
        _missing_names(view),
        body,
        examples=examples_for("http.not-found", options),
        options=options,
        reproduce=lambda url, fault: fault.reproducer or snippet(s.address, s.request("GET", url)),
        key="http.not-found",
    )
    _still_serving(s, view)
    return f"{n + 2} missing files answered 404"


#: request heads that are not HTTP (each must get a 4xx, 501 or 505 status, never a crash); {url} is a real file
MALFORMED = (
    b"GARBAGE\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET {url} HTTP/1.0 extra\r\n\r\n",
    b"GET {url} FOO/1.0\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",  # the start of a TLS ClientHello (https://)
    b"\xff\xfe\xfd\x00 \x80\r\n\r\n",
    b"GET /%zz HTTP/1.0\r\n\r\n",
)
_LENIENT_OK = frozenset({501, 505})


def _malformed_lines() -> st.SearchStrategy[bytes]:
    parts = [b"GET", b"HEAD", b"/", b"/x", b"HTTP/1.0", b"HTTP/", b" ", b"  ", b"\t", b"\x00", b"\xff", b"%", b"?"]
    joined = st.lists(st.sampled_from(parts), min_size=1, max_size=8).map(b"".join)
    raw = st.binary(min_size=1, max_size=64)
    return st.one_of(joined, raw).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")).filter(bool)


def _malformed_problem(reply: Reply, target: Target) -> tuple[bool, str] | None:
    """None when ``reply`` is a right answer to a malformed request (a 4xx, 501 or 505), else (fail, why): a
    broken promise fails (a death, a hang, a connection ended with no answer at all: the client waited for one);
    a SHOULD-level answer warns (no status line, a 2xx or 3xx, a 5xx)."""
    status = reply.status
    if status is not None and (400 <= status < 500 or status in _LENIENT_OK):
        return None
    if not target.alive():
        return True, reply.describe()
    if status is None and not reply.closed:
        return True, f"{reply.describe()}: the client waits for an answer that never comes (answer 400 and close)"
    if status is None and not reply.raw:
        return True, f"{reply.describe()}: the connection ended with no answer at all (answer 400 Bad Request)"
    if status is None:
        return False, (
            f"{reply.describe()}: a response without a status line (HTTP/0.9's form), which RFC 1945 section 6 "
            "says a server SHOULD send only to an HTTP/0.9 request: answer 400 Bad Request"
        )
    if status >= 500:
        return False, f"{reply.describe()}: a 5xx blames the server for the client's error: answer 400 Bad Request"
    return False, (
        f"{reply.describe()}: RFC 9112 section 3 says a server SHOULD answer an invalid request line with "
        "400 Bad Request"
    )


@check(
    "http.bad-request",
    "malformed request lines and headers (garbage, missing parts, TLS bytes, bad escapes) never kill the server, "
    "hang the client or end its connection unanswered (fail); an answer other than a 4xx (no status line, a 2xx, "
    "a 5xx) is SHOULD-level (warn)",
    weight=0.5,
    protocols=PROTOCOLS,
)
def bad_request(target: Target, options: CheckOptions) -> str:
    """The fixed list must get a 4xx (or 501/505). A generated line may happen to be a valid request (``GET /``
    is an HTTP/0.9 Simple-Request, answered without a status line), so only a broken promise or a 5xx counts."""
    view, s = _root(options), Session(target, options)
    url = view.file().url.encode()
    warnings: list[tuple[str, bytes]] = []
    for template in MALFORMED:
        request = template.replace(b"{url}", url)
        problem = _malformed_problem(s.send(request), target)
        if problem is not None:
            fail, why = problem
            message = f"the malformed request {_first_line(request)} got {why}"
            if not fail:
                warnings.append((message, request))
                continue
            raise s.fault(message, request, expect=expect_status(*_LENIENT_OK, ranges=[(400, 499)]))

    def body(line: bytes) -> None:
        request = line + b"\r\n\r\n"
        reply = s.send(request)
        problem = _malformed_problem(reply, target)
        if problem is None or (reply.status or 0) in range(100, 500) or (reply.status is None and not problem[0]):
            return  # a status below 500, or bytes without one (an HTTP/0.9 answer), to what may be a valid request
        fail, why = problem
        message = f"the request line {_first_line(request)} got {why}"
        if not fail:
            warnings.append((message, request))
            return
        raise s.fault(message, request, expect={"bad_ranges": [[500, 500], [502, 504], [506, 599]]})

    n = falsify(
        _malformed_lines(),
        body,
        examples=examples_for("http.bad-request", options),
        options=options,
        reproduce=lambda line, fault: fault.reproducer or snippet(s.address, line + b"\r\n\r\n"),
        key="http.bad-request",
    )
    _still_serving(s, view)
    if warnings:
        message, request = warnings[0]
        more = f" ({len(warnings) - 1} more answered without a 4xx)" if len(warnings) > 1 else ""
        raise s.fault(message + more, request, warn=True, expect=expect_status(*_LENIENT_OK, ranges=[(400, 499)]))
    return f"{len(MALFORMED)} malformed requests answered 4xx; {n} generated request lines answered with a status"


def _method_advice(verb: str, status: int | None) -> str:
    """Why an answer to ``verb`` that changed nothing is only SHOULD-level, and what to answer instead."""
    if verb == "BREW":
        return (
            "an unknown method is not a malformed request: a server SHOULD answer 501 Not Implemented "
            "(RFC 1945 section 5.1.1, RFC 9110 section 9.1)"
        )
    if verb == "POST" and status is not None and 200 <= status < 300:
        return (
            "RFC 1945 leaves what POST does to the server, but a static file takes no data: answer "
            "405 Method Not Allowed with Allow: GET, HEAD"
        )
    return "a method the server does not implement SHOULD get 405 Method Not Allowed (or 501 Not Implemented)"


@check(
    "http.method",
    "methods other than GET and HEAD change no file and get a status, never a crash or a 5xx; a PUT is "
    "never answered 2xx (its upload would be lost); anything but 405/501 (404/403 for PUT and DELETE of a "
    "missing name) is a SHOULD-level answer: warn",
    protocols=PROTOCOLS,
)
def method(target: Target, options: CheckOptions) -> str:
    """POST, PATCH and an unknown method go to an existing file; PUT and DELETE, which a server implementing
    them would act on, go to a name that does not exist, so a user's files are never overwritten or deleted
    (a file a PUT created is removed again)."""
    view, s = _root(options), Session(target, options)
    item = view.file()
    before = item.data()
    fresh = f"/harness-method-check-{random.Random().getrandbits(32):08x}.txt"
    fresh_path = os.path.join(view.root, fresh.lstrip("/"))
    should: list[tuple[str, bytes, dict[str, object]]] = []
    for verb, url in (("POST", item.url), ("PATCH", item.url), ("BREW", item.url), ("PUT", fresh), ("DELETE", fresh)):
        extra = ["Content-Length: 5"] if verb in ("POST", "PUT", "PATCH") else []
        request = s.request(verb, url, extra) + (b"hello" if extra else b"")
        reply = s.send(request)
        changed, created = item.data() != before, os.path.lexists(fresh_path)
        if created:
            with contextlib.suppress(OSError):
                os.unlink(fresh_path)
        if changed or created:
            what = f"changed {item.path}" if changed else f"created {fresh_path}"
            raise s.fault(
                f"{verb} {url} got {reply.describe()} and {what} on disk: a static file server must not let a "
                "client change its files (answer 405 Method Not Allowed)",
                request,
                expect=expect_status(405, 501, *((403, 404) if verb in ("PUT", "DELETE") else ())),
            )
        status = reply.status
        if status is None or (500 <= status < 600 and status != 501):
            raise s.fault(
                f"{verb} {url} got {reply.describe()}: a method the server does not serve is refused with a "
                "status (405 Method Not Allowed or 501 Not Implemented), not a crash, a 5xx or a silent close",
                request,
                expect={"bad_ranges": [[500, 500], [502, 599]]},
            )
        if verb == "PUT" and 200 <= status < 300:
            raise s.fault(
                f"PUT {url} got {reply.describe()}, but nothing was stored: the client believes its upload is "
                "saved (answer 405 Method Not Allowed)",
                request,
                expect={"bad_ranges": [[200, 299], [500, 500], [502, 599]]},
            )
        if status not in (405, 501) and not (verb in ("PUT", "DELETE") and status in (403, 404)):
            allowed = expect_status(405, 501, *((403, 404) if verb in ("PUT", "DELETE") else ()))
            should.append((f"{verb} {url} got {reply.describe()}: {_method_advice(verb, status)}", request, allowed))
    if should:
        message, request, allowed = should[0]
        more = f" ({len(should) - 1} more method(s) answered the same way)" if len(should) > 1 else ""
        raise s.fault(message + more, request, warn=True, expect=allowed)
    return "POST, PATCH, BREW, PUT and DELETE refused (405/501, or 404/403 for a missing name); no file changed"


SPLIT_PAUSES = (0.0, 0.002, 0.01)


def _split_requests(view: Root, address: Address) -> st.SearchStrategy[tuple[bytes, list[int], float]]:
    def build(item: Item, padding: int, cuts: list[int], pause: float) -> tuple[bytes, list[int], float]:
        extra = [f"X-Padding-{i}: {'p' * (i * 7)}" for i in range(padding)]
        request = request_bytes("GET", item.url, address, ["Accept: */*", *extra])
        points = sorted({c % (len(request) - 1) + 1 for c in cuts})
        chunks = [b - a for a, b in zip([0, *points], points, strict=False)]
        return request, chunks, pause

    items = st.sampled_from([f for f in view.sample if f.size <= 256 * KiB] or [view.file()])
    cuts = st.lists(st.integers(0, 4096), max_size=12)
    return st.builds(build, items, st.integers(0, 4), cuts, st.sampled_from(SPLIT_PAUSES))


@check(
    "http.split",
    "a request whose line and headers arrive in many TCP segments (single bytes, pauses) is answered correctly",
    weight=0.5,
    protocols=PROTOCOLS,
)
def split_request(target: Target, options: CheckOptions) -> str:
    view, s = _root(options), Session(target, options)
    item = view.file()
    by_url = {f.url: f for f in view.files + view.sample}

    def body(value: tuple[bytes, list[int], float]) -> None:
        request, chunks, pause = value
        data = by_url[item_url(request)].data()
        reply = s.send(request, chunks=chunks, pause=pause)
        problem = file_problem(reply, data)
        if problem is not None:
            pieces = len(split(request, chunks))
            raise s.fault(
                f"GET {item_url(request)} written in {pieces} pieces {pause * 1000:g} ms apart: {problem} "
                "(read until the blank line that ends the head: one recv() is not one request)",
                request,
                chunks=chunks,
                pause=pause,
                expect=expect_file(data),
            )

    request = s.request("GET", item.url, ["Accept: */*"])
    line_end = request.index(b"\r\n") + 2
    explicit = [
        (request, [1], 0.05),  # the first byte alone: a server that acts on its first recv() sees "G"
        (request, [line_end], 0.05),  # the request line, then the headers
        (request, [1] * len(request), 0.001),  # byte by byte
    ]
    for value in explicit:
        body(value)
    n = falsify(
        _split_requests(view, s.address),
        body,
        examples=examples_for("http.split", options),
        options=options,
        reproduce=lambda value, fault: fault.reproducer or "",  # body's s.fault attached the replay
        key="http.split",
    )
    return f"{n + len(explicit)} requests split into pieces answered correctly"


def item_url(request: bytes) -> str:
    """The target of a request's first line."""
    parts = request.split(b"\r\n", 1)[0].split(b" ")
    return parts[1].decode("latin-1") if len(parts) > 1 else ""


# -- the requests real clients send -----------------------------------------------------------------------

CURL_UA = "curl/8.5.0"
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def client_problem(reply: Reply, data: bytes) -> str | None:
    """What is wrong with ``reply`` as a real client's GET of a file holding ``data``, or None: any framing
    HTTP allows (Content-Length, chunked, or the close), a gzip or deflate Content-Encoding undone, and the
    connection may stay open once the response is whole."""
    if reply.status != 200:
        return f"expected 200 with the file, got {reply.describe()}"
    if reply.end in ("idle", "timeout"):
        framed = "Content-Length" if reply.header("content-length") else "neither Content-Length nor chunked"
        return (
            f"the response never ended: {len(reply.body)} B of body ({framed}), then {reply.ending()} (a client "
            "waits for the rest; send a correct Content-Length, or close)"
        )
    if reply.end == "limit":
        return f"{reply.ending()} ({len(reply.raw)} B for a {len(data)}-byte file)"
    chunked = bool(reply.headers.get("transfer-encoding"))
    length = reply.header("content-length")
    if not chunked and length is not None and length.isdigit() and int(length) != len(reply.body):
        return f"Content-Length: {length}, but {len(reply.body)} B of body came ({reply.ending()})"
    body, problem = decode_body(reply)
    if problem:
        return problem
    if body != data:
        if len(body) != len(data):
            return f"{len(body)} B of file for a {len(data)}-byte file ({reply.ending()})"
        first = next(i for i, (a, b) in enumerate(zip(body, data, strict=True)) if a != b)
        return f"the file differs at byte {first}"
    return None


def _head(lines: Sequence[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@check(
    "http.query",
    "a file requested with a query string (GET /file?v=2, an empty ?, an encoded / in the query) is served "
    "as the file: the query is not part of the path",
    protocols=PROTOCOLS,
)
def query(target: Target, options: CheckOptions) -> str:
    view, s = _root(options), Session(target, options)
    items = _sample(view)[:3]
    n = 0
    for item in items:
        for suffix in ("?v=2", "?", "?next=%2Findex.html&x=a/b"):
            request = s.request("GET", item.url + suffix)
            problem = file_problem(s.send(request, limit=item.size + 64 * KiB), item.data())
            if problem is not None:
                raise s.fault(
                    f"GET {item.url + suffix}: {problem} (a query string is not part of the file name: cut the "
                    "target at '?' before decoding it)",
                    request,
                    expect=expect_file(item.data()),
                )
            n += 1
    return f"{n} requests with query strings served the file"


def _client_requests(view: Root, address: Address) -> list[tuple[str, list[tuple[bytes, Item]]]]:
    """What curl, a browser, ApacheBench -k and a gateway with lower-case header names send: per client,
    its requests on one connection (each after the previous response, when the connection is kept)."""
    host = format_address(address)
    small = [f for f in view.sample if f.size <= 256 * KiB] or [view.file()]
    first = view.file()
    page = next((f for f in small if f.ext in (".html", ".htm")), first)
    image = next((f for f in small if f.ext in (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp")), small[-1])
    other = next((f for f in small if f != first), first)
    curl = ["User-Agent: " + CURL_UA, "Accept: */*"]
    ab = ["User-Agent: ApacheBench/2.3", "Accept: */*"]
    browser = [
        "User-Agent: " + BROWSER_UA,
        "Accept-Language: en-US,en;q=0.5",
        "Accept-Encoding: gzip, deflate",
        "Connection: keep-alive",
    ]
    return [
        (
            "curl (HTTP/1.1), two URLs on one connection",
            [
                (_head([f"GET {first.url} HTTP/1.1", f"Host: {host}", *curl]), first),
                (_head([f"GET {other.url} HTTP/1.1", f"Host: {host}", *curl]), other),
            ],
        ),
        (
            "a browser (HTTP/1.1, keep-alive, gzip), a page and then its image",
            [
                (
                    _head(
                        [
                            f"GET {page.url} HTTP/1.1",
                            f"Host: {host}",
                            browser[0],
                            "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                            *browser[1:],
                            "Upgrade-Insecure-Requests: 1",
                            "Sec-Fetch-Dest: document",
                            "Sec-Fetch-Mode: navigate",
                            "Sec-Fetch-Site: none",
                            "Sec-Fetch-User: ?1",
                        ]
                    ),
                    page,
                ),
                (
                    _head(
                        [
                            f"GET {image.url} HTTP/1.1",
                            f"Host: {host}",
                            browser[0],
                            "Accept: image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5",
                            *browser[1:],
                            f"Referer: http://{host}{page.url}",
                            "Sec-Fetch-Dest: image",
                            "Sec-Fetch-Mode: no-cors",
                            "Sec-Fetch-Site: same-origin",
                        ]
                    ),
                    image,
                ),
            ],
        ),
        (
            "ApacheBench -k (HTTP/1.0, Connection: Keep-Alive), twice on one connection",
            [(_head([f"GET {first.url} HTTP/1.0", "Connection: Keep-Alive", f"Host: {host}", *ab]), first)] * 2,
        ),
        (
            "a gateway that sends lower-case header names (HTTP/1.1)",
            [(_head([f"GET {first.url} HTTP/1.1", f"host: {host}", "user-agent: node", "accept: */*"]), first)],
        ),
    ]


@check(
    "http.clients",
    "the requests curl, a browser (keep-alive, gzip), ApacheBench -k and a gateway with lower-case header "
    "names send are answered with the file (any framing HTTP allows, gzip undone), and a connection the server "
    "keeps open answers the client's next request on it",
    protocols=PROTOCOLS,
)
def clients(target: Target, options: CheckOptions) -> str:
    """Each client's requests go on one connection, the next once the previous response is whole and the
    server kept the connection (HTTP/1.1 without ``Connection: close``, or HTTP/1.0 with keep-alive). A
    server may close a kept connection before the next request (the client retries); it may not keep it
    open and leave the request unanswered."""
    view, s = _root(options), Session(target, options)
    _sample(view)
    reused = 0
    for who, exchange in _client_requests(view, s.address):
        limit = max(item.size for _, item in exchange) + 64 * KiB
        replies = converse(s.address, [("GET", request) for request, _ in exchange], options, limit=limit)
        for i, reply in enumerate(replies):
            request, item = exchange[i]
            if i and not reply.raw and reply.closed:
                break  # it closed the kept connection first: the client opens another, nothing is lost
            if i and not reply.raw:
                before = replies[i - 1]
                raise s.fault(
                    f"{who}: the server kept the connection open after the first response ({before.version}"
                    f" {before.status}, no Connection: close), but did not answer the next request sent on it: "
                    f"{reply.ending()} (a client reusing the connection waits: answer every request on a kept "
                    "connection, or send Connection: close and close)",
                    request,
                    expect={"conversation": [[r, expect_client(f.data())] for r, f in exchange[: i + 1]]},
                )
            problem = client_problem(reply, item.data())
            if problem is not None:
                which = f"request {i + 1} on the connection" if i else "its request"
                replay = {"conversation": [[r, expect_client(f.data())] for r, f in exchange[: i + 1]]}
                raise s.fault(f"{who}, {which}, GET {item_url(request)}: {problem}", request, expect=replay)
            reused += i > 0
    return f"curl, a browser, ApacheBench -k and lower-case header names served; {reused} requests on kept connections"


@check(
    "http.absolute-form",
    "GET http://host/file (the absolute form): in HTTP/1.1 the file (RFC 9112 section 3.2.2: a server MUST "
    "accept it; an HTTP/1.0-only server's refusal is a warning); in HTTP/1.0 the file or a 4xx (RFC 1945 "
    "allows it only to proxies); never a wrong file, a 5xx or a crash",
    protocols=PROTOCOLS,
)
def absolute_form(target: Target, options: CheckOptions) -> str:
    view, s = _root(options), Session(target, options)
    item = view.file()
    host = format_address(s.address)
    absolute = f"http://{host}{item.url}"
    notes, warning = [], None
    for version in ("HTTP/1.1", "HTTP/1.0"):
        request = _head([f"GET {absolute} {version}", f"Host: {host}", "User-Agent: " + CURL_UA, "Connection: close"])
        reply = converse(s.address, [("GET", request)], options, limit=item.size + 64 * KiB)[0]
        problem = client_problem(reply, item.data())
        if problem is None:
            notes.append(f"{version}: served")
            continue
        status = reply.status
        replay = {"absolute": {**expect_client(item.data()), "version": version}}
        if status is None or (500 <= status < 600 and status not in (501, 505)) or status == 200:
            raise s.fault(f"GET {absolute} {version}: {problem}", request, expect=replay)
        if version == "HTTP/1.0":
            notes.append(f"HTTP/1.0: refused with {status} (RFC 1945 allows the absolute form only to proxies)")
        elif reply.version == "HTTP/1.1":
            raise s.fault(
                f"GET {absolute} HTTP/1.1 got {reply.describe()}, from a server answering as HTTP/1.1: RFC 9112 "
                "section 3.2.2 says a server MUST accept the absolute form (serve the path after the authority)",
                request,
                expect=replay,
            )
        else:
            warning = (
                f"GET {absolute} HTTP/1.1 got {reply.describe()}: an HTTP/1.0 server may refuse the absolute form "
                "(RFC 1945), but every HTTP/1.1 server MUST accept it (RFC 9112 section 3.2.2): serve the path "
                "after the authority",
                request,
            )
    if warning is not None:
        replay = {"absolute": {**expect_client(item.data()), "version": "HTTP/1.1"}}
        raise s.fault(warning[0], warning[1], warn=True, expect=replay)
    return "; ".join(notes)


#: Range header -> the slice of a file of ``n`` bytes it asks for (first, last inclusive)
def ranges(n: int) -> list[tuple[str, int, int]]:
    """Range headers a client sends for a file of ``n`` >= 4 bytes, each with the first and last (inclusive)
    byte positions it asks for: up to 10 bytes from a quarter in, the last up to 10 bytes, from half-way on."""
    first, tail, half = n // 4, min(10, n // 2), n // 2
    last = min(first + 9, n - 1)
    spans = [(f"bytes={first}-{last}", first, last), (f"bytes=-{tail}", n - tail, n - 1)]
    return [*spans, (f"bytes={half}-", half, n - 1)]


@check(
    "http.range",
    "a Range request (curl -r, a media player, a resumed download) gets the whole file (200) or exactly the "
    "bytes asked for (206 with a matching Content-Range)",
    protocols=PROTOCOLS,
)
def byte_range(target: Target, options: CheckOptions) -> str:
    view, s = _root(options), Session(target, options)
    items = [f for f in _sample(view) if 4 <= f.size <= 256 * KiB]
    if not items:
        raise CheckSkipped("no sampled file of 4 B to 256 KiB to ask a range of")
    item = max(items, key=lambda f: f.size)
    data, host = item.data(), format_address(s.address)
    answers = []
    for spec, first, last in ranges(len(data)):
        fields = [f"Host: {host}", "User-Agent: " + CURL_UA, "Accept: */*", f"Range: {spec}", "Connection: close"]
        request = _head([f"GET {item.url} HTTP/1.1", *fields])
        reply = converse(s.address, [("GET", request)], options, limit=len(data) + 64 * KiB)[0]
        if reply.status == 206:
            wanted = data[first : last + 1]
            body, problem = decode_body(reply)
            expected = f"bytes {first}-{last}/{len(data)}"
            got = reply.header("content-range") or ""
            if not problem and " ".join(got.split()) != expected:
                problem = f"Content-Range: {got}" if got else "no Content-Range"
            if not problem and body != wanted:
                problem = f"{len(body)} B of body" + (", not the bytes asked for" if len(body) == len(wanted) else "")
            if problem:
                raise s.fault(
                    f"GET {item.url} with Range: {spec} got 206 with {problem}; expected Content-Range: {expected} "
                    f"and those {len(wanted)} B (the last position is inclusive: bytes=0-9 is 10 bytes)",
                    request,
                    expect=expect_range(data, first, last),
                )
            answers.append("206")
            continue
        whole = client_problem(reply, data)
        if whole is not None:
            raise s.fault(
                f"GET {item.url} with Range: {spec}: {whole} (answer 206 with the range, or ignore it: 200)",
                request,
                expect=expect_range(data, first, last),
            )
        answers.append("200")
    return f"Range requests on {item.url} answered {', '.join(answers)} with the right bytes"


# -- path traversal ---------------------------------------------------------------------------------------

DOTDOT = ("..", "%2e%2e", "%2E%2E", ".%2e", "%2e.", "%252e%252e", "..%00")
SEPARATORS = ("/", "%2f", "%2F", "//", "/./", "\\", "%5c", "%252f")
SUFFIXES = ("", "?x=1", "#top", "%00.html", "%00")


def _encode_some(text: str, rnd: random.Random | None) -> str:
    """Percent-encode a random subset of the characters of a file name (none without ``rnd``)."""
    if rnd is None:
        return text
    return "".join(f"%{ord(c):02x}" if c.isascii() and rnd.random() < 0.3 else c for c in text)


def traversal_path(root: str, target: Item, style: str, ups: int, dotdot: str, sep: str, suffix: str, seed: int) -> str:
    """One request target aiming at ``target`` (outside ``root``) in the given ``style``:

    ``relative`` climbs from the root with ``..`` (as ``dotdot``, ``ups`` extra times) then descends;
    ``absolute`` names the file's absolute path after ``ups + 1`` slashes (``//etc/passwd``); ``rootless``
    is the relative form without the leading slash; ``symlink`` requests the symlink in the root that points
    at it. Names are percent-encoded at random (``seed``; 0: not at all); ``suffix`` is appended (a query, ``%00``...).
    """
    rnd = random.Random(seed) if seed else None
    if style == "symlink" and target.url:
        return target.url + suffix
    names = [_encode_some(urllib.parse.quote(p, safe=""), rnd) for p in target.path.strip("/").split("/")]
    if style == "absolute":
        return "/" * (ups + 1) + sep.join(names) + suffix
    climb = len(Path(root).parts) - 1 + ups if style == "deep" else None
    relative = os.path.relpath(target.path, root).split(os.sep)
    if climb is not None:
        steps = [dotdot] * climb + names
    else:
        steps = [dotdot if part == ".." else _encode_some(urllib.parse.quote(part, safe=""), rnd) for part in relative]
        if style == "detour":  # into directories (real or not), then back out of them and beyond
            steps = ["sub"] * ups + [dotdot] * ups + steps
    path = sep.join(steps) + suffix
    return path if style == "rootless" else "/" + path


STYLES = ("relative", "deep", "absolute", "rootless", "symlink", "detour")


def traversal_paths(view: Root) -> st.SearchStrategy[str]:
    """Request targets that try to reach a file outside the root: every style, encoding and separator."""
    return st.builds(
        traversal_path,
        st.just(view.root),
        st.sampled_from(view.outside),
        st.sampled_from(STYLES),
        st.integers(0, 4),
        st.sampled_from(DOTDOT),
        st.sampled_from(SEPARATORS),
        st.sampled_from(SUFFIXES),
        st.integers(0, 2**16),
    )


def classic_traversals(view: Root) -> list[str]:
    """The well-known attacks, against the first targets of each kind (run before the generated ones)."""
    plain = [t for t in view.outside if not t.url][:3]
    links = [t for t in view.outside if t.url][:4]
    attacks = [
        ("relative", "..", "/", ""),
        ("relative", "%2e%2e", "/", ""),
        ("relative", "%2E%2E", "%2f", ""),
        ("relative", ".%2e", "/", ""),
        ("relative", "..", "\\", ""),
        ("deep", "..", "/", ""),
        ("absolute", "..", "/", ""),
        ("rootless", "..", "/", ""),
        ("relative", "..", "/", "%00.html"),
    ]
    paths = [traversal_path(view.root, t, style, 1, d, sep, end, 0) for style, d, sep, end in attacks for t in plain]
    paths += [traversal_path(view.root, t, "symlink", 0, "..", "/", "", 0) for t in links]
    return list(dict.fromkeys(p for p in paths if p))


@check(
    "http.traversal",
    "no request (../, %2e%2e, //absolute, backslashes, NUL, Hypothesis-generated mixes) gets the bytes of a file "
    "outside the root; serving what a symlink placed in the root points to, named by an ordinary path, is the "
    "administrator's choice: warn",
    protocols=PROTOCOLS,
)
def traversal(target: Target, options: CheckOptions) -> str:
    view, s = _root(options), Session(target, options)
    if not view.outside:
        raise CheckSkipped("no readable file outside the root to aim at (none beside it, no /etc/passwd)")
    followed: list[tuple[str, int, str, str, bytes]] = []  # (path, status, leaked, symlink, request)

    def body(path: str) -> None:
        request = s.request("GET", path)
        reply = s.send(request, limit=OUTSIDE_MAX_SIZE + 64 * KiB)
        if reply.status is not None and 200 <= reply.status < 300:
            leaked = view.leaked(reply.body)
            symlink = None if leaked is None else view.via_symlink(path, leaked)
            if leaked is not None and symlink is not None:
                followed.append((path, reply.status, leaked, symlink, request))  # the administrator's link
            elif leaked is not None:
                link = view.link_to(leaked, path)
                via = f" (through the symlink {link} in the root, which points outside)" if link else ""
                raise s.fault(
                    f"GET {path} answered {reply.status} with the bytes of {leaked}, a file outside the "
                    f"root{via}: path traversal (decode the path, resolve it with realpath, and refuse anything "
                    "not under the root's realpath)",
                    request,
                    expect={"leak": view.outside_data[leaked]},
                )
        elif reply.status is None and (not reply.closed or not target.alive()):
            raise s.fault(f"GET {path}: {reply.describe()}", request, expect={"leak": b""})

    classic = classic_traversals(view)
    for path in classic:
        body(path)
    n = falsify(
        traversal_paths(view),
        body,
        examples=examples_for("http.traversal", options),
        options=options,
        reproduce=lambda path, fault: fault.reproducer or snippet(s.address, s.request("GET", path)),
        key="http.traversal",
    )
    tried = f"{len(classic)} classic and {n} generated traversal attempts on {len(view.outside)} files"
    if followed:
        path, status, leaked, symlink, request = followed[0]
        raise s.fault(
            f"GET {path} answered {status} with the bytes of {leaked}: the symlink {symlink} in the root points "
            f"outside it, and the server follows it (as nginx, Apache and lighttpd do by default); no request "
            f"escaped the root otherwise ({tried}). If the link is not meant to publish its target, remove it or "
            "refuse symlinks leaving the root (realpath containment; nginx disable_symlinks, Apache Options "
            '-FollowSymLinks, lighttpd server.follow-symlink = "disable")',
            request,
            warn=True,
            expect={"leak": view.outside_data[leaked]},
        )
    return f"{tried}: none escaped"


# -- limits, size, concurrency, time ----------------------------------------------------------------------

REFUSED = frozenset({400, 413, 414, 431})
LONG_LINE = 64 * KiB
ENDLESS = 8 * MiB


@check(
    "http.oversized",
    "a 64 KiB request line, 64 KiB of headers and an endless header are refused with a status (414/431/400) "
    "without being read whole, and the server keeps serving",
    protocols=PROTOCOLS,
)
def oversized(target: Target, options: CheckOptions) -> str:
    view, s = _root(options), Session(target, options)
    url = view.file().url
    host = format_address(s.address)
    pad = "X-Padding-{:04d}: " + "a" * 48
    cases = [
        (
            "a 64 KiB request line",
            b"GET /" + b"a" * LONG_LINE + b" HTTP/1.0\r\n\r\n",
            f"b'GET /' + b'a' * {LONG_LINE} + b' HTTP/1.0\\r\\n\\r\\n'",
        ),
        (
            "1024 headers (64 KiB)",
            request_bytes("GET", url, s.address, [pad.format(i) for i in range(1024)]),
            f"b'GET {url} HTTP/1.0\\r\\nHost: {host}\\r\\n' + b''.join("
            f"b'X-Padding-%04d: ' % i + b'a' * 48 + b'\\r\\n' for i in range(1024)) + b'\\r\\n'",
        ),
        (
            "an endless header (8 MiB, no line end)",
            f"GET {url} HTTP/1.0\r\nX-Endless: ".encode() + b"a" * ENDLESS,
            f"b'GET {url} HTTP/1.0\\r\\nX-Endless: ' + b'a' * {ENDLESS}",
        ),
    ]
    closed_silently = []
    refused, wait = expect_status(*sorted(REFUSED)), options.timeout * 2
    for what, request, expression in cases:
        reply = s.send(request, timeout=options.timeout * 2)
        if reply.status in REFUSED:
            continue
        if reply.status is None and reply.closed and target.alive():
            closed_silently.append((what, request, expression, reply))
            continue
        advice = "bound what you buffer (8 KiB per line, 32 KiB of headers) and answer 414 or 431"
        if reply.status is None and not reply.closed:
            problem = f"no answer after the whole of it was sent ({reply.describe()}): the server keeps buffering"
        else:
            problem = f"got {reply.describe()}"
        raise s.fault(f"{what}: {problem}; {advice}", request, expression=expression, expect=refused, wait=wait)
    _still_serving(s, view)
    if closed_silently:
        what, request, expression, reply = closed_silently[0]
        raise s.fault(
            f"{what}: {reply.describe()}: refused, but without a status line (answer 414 or 431 first)",
            request,
            expression=expression,
            warn=True,
            expect=refused,
            wait=wait,
        )
    return "oversized request line and headers refused with a status"


@check(
    "http.large",
    "the largest file (8 MiB in the fixture tree) comes back byte-identical with its Content-Length",
    protocols=PROTOCOLS,
)
def large(target: Target, options: CheckOptions) -> str:
    view, s = _root(options), Session(target, options)
    item = view.largest
    if item is None or item.size < MiB:
        raise CheckSkipped("no file of 1 MiB or more under the root")
    data = item.data()
    request = s.request("GET", item.url)
    start = time.monotonic()
    reply = s.send(request, timeout=options.timeout * 3, limit=len(data) + 64 * KiB)
    problem = file_problem(reply, data)
    if problem is not None:
        raise s.fault(
            f"GET {item.url} ({item.size} B): {problem}", request, expect=expect_file(data), wait=options.timeout * 3
        )
    rate = item.size / max(time.monotonic() - start, 1e-6) / 1e6
    return f"{item.size / MiB:.1f} MiB served byte-identical at {rate:.0f} MB/s"


STREAM_MIN = 4 * MiB
STALL = 0.5  #: seconds the client reads nothing while the server's memory is sampled


@check(
    "http.streaming",
    "a large file is streamed in chunks: while the client reads nothing, the server does not hold the file in memory",
    severity=Verdict.WARN,
    protocols=PROTOCOLS,
)
def streaming(target: Target, options: CheckOptions) -> str:
    """Request the largest file and read nothing for ``STALL`` s while sampling the server's resident memory.

    A streaming server is blocked in a send of one chunk (its memory barely moves); one that read the whole
    file into memory holds all of it during the stall. Growth of 3/4 of the file or more is reported.
    """
    view, s = _root(options), Session(target, options)
    item, pid = view.largest, target.pid
    if item is None or item.size < STREAM_MIN:
        raise CheckSkipped(f"no file of {STREAM_MIN >> 20} MiB or more under the root")
    if pid is None or not sysinfo.available():
        raise CheckSkipped("the server's memory cannot be observed (no process of its own, or no /proc)")
    _still_serving(s, view)  # warm up: whatever a first request loads is loaded before measuring
    before = sysinfo.rss_kib(pid)
    if before is None:
        raise CheckSkipped(f"cannot read the memory of process {pid}")
    peak = [before]

    def sample() -> bool:
        rss = sysinfo.rss_kib(pid)
        peak[0] = max(peak[0], rss or 0)
        return False

    def stall() -> None:
        poll_until(sample, STALL, 0.02)  # never true: samples every 20 ms for STALL seconds

    request = s.request("GET", item.url)
    reply = s.send(request, timeout=options.timeout * 3, limit=item.size + 64 * KiB, after_send=stall)
    grew = (peak[0] - before) * KiB
    if reply.status == 200 and grew >= item.size * 3 // 4:
        raise s.fault(
            f"while the client read nothing, the server's memory grew by {grew / MiB:.1f} MiB serving a "
            f"{item.size / MiB:.1f} MiB file: it reads the whole file into memory (stream it in chunks: "
            "read 64 KiB, sendall, repeat)",
            request,
            warn=True,
            expect={"rss": {"size": item.size}},
            wait=options.timeout * 3,
        )
    return f"memory grew {grew / MiB:.2f} MiB while a {item.size / MiB:.1f} MiB file was in flight"


@check(
    "http.concurrent",
    "a client stalled mid-request does not delay others, and concurrent clients all get their files intact",
    protocols=PROTOCOLS,
)
def concurrent_clients(target: Target, options: CheckOptions) -> str:
    view, s = _root(options), Session(target, options)
    items = _sample(view)
    first = items[0]
    stalled = connect(s.address, options.timeout)
    partial = s.request("GET", first.url)[:-2]  # everything but the final blank line
    try:
        stalled.sendall(partial)
        request = s.request("GET", first.url)
        reply = s.send(request, limit=first.size + 64 * KiB)
        problem = file_problem(reply, first.data())
        if problem is not None:
            raise s.fault(
                f"while another client had sent only part of its request, GET {first.url}: {problem} (serve "
                "each client in its own thread, or time out slow clients quickly)",
                request,
                expect={**expect_file(first.data()), "stalled": partial},
            )
    finally:
        stalled.close()
    chosen = [items[i % len(items)] for i in range(max(options.connections, 2))]
    if view.largest is not None and view.largest.size <= 64 * MiB:
        chosen[-1] = view.largest
    requests = [s.request("GET", item.url) for item in chosen]
    with ThreadPoolExecutor(len(chosen)) as pool:
        replies = list(
            pool.map(lambda pair: s.send(pair[0], limit=pair[1].size + 64 * KiB, timeout=options.timeout * 3),
                     zip(requests, chosen, strict=True))
        )  # fmt: skip
    for item, request, reply in zip(chosen, requests, replies, strict=True):
        problem = file_problem(reply, item.data())
        if problem is not None:
            raise s.fault(
                f"one of {len(chosen)} concurrent clients, GET {item.url}: {problem}",
                request,
                expect=expect_file(item.data()),
                wait=options.timeout * 3,
            )
    return f"served while another client stalled; {len(chosen)} concurrent clients served intact"


@check(
    "http.request-timeout",
    "a client that never finishes its request is answered 408 or disconnected within --timeout (+ --idle) s; "
    "one held longer (slowloris exposure, not a broken promise) is a warning with the time observed",
    severity=Verdict.WARN,
    protocols=PROTOCOLS,
)
def request_timeout(target: Target, options: CheckOptions) -> str:
    """Warn, not fail, on a connection still open at the bound: a bounded wait cannot tell a server that
    closes after 60 s (nginx's client_header_timeout, lighttpd's max-read-idle) from one that never does, and
    neither loses a byte a client expected; a larger ``--timeout`` tells them apart."""
    view, s = _root(options), Session(target, options)
    url = view.file().url
    partial = s.request("GET", url)[:-2]  # no blank line: the request never ends
    bound = options.timeout + options.idle
    reply = s.send(partial, timeout=bound, idle=bound)
    if not reply.closed and reply.status is None:
        raise s.fault(
            f"a client that sent only part of its request (no blank line) was still connected after "
            f"{reply.seconds:.0f} s with no answer: each such client holds a socket (and a thread) for as long as "
            "the server waits, so slow or abandoned clients pile up (nginx and lighttpd wait 60 s; without any "
            "read timeout they pile up forever: set one, then answer 408 Request Timeout and close). Run with "
            "--timeout 70 to see whether it closes at all",
            partial,
            expression=None,
            warn=True,
            expect={"answer_within": bound},
            wait=bound,
        )
    if reply.status is None:
        return f"an unfinished request was disconnected after {reply.seconds:.1f} s"
    return f"an unfinished request was answered {reply.status} after {reply.seconds:.1f} s"


__all__ = [
    "PROTOCOLS",
    "classic_traversals",
    "client_problem",
    "file_problem",
    "traversal_path",
    "traversal_paths",
]
