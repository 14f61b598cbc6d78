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

import os
import random
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hypothesis import strategies as st

from .. import sysinfo
from ..errors import CheckSkipped
from ..httpclient import Reply, Session, request_bytes, snippet, split
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
        raise s.fault(f"afterwards, a plain GET {item.url} failed: {problem}", request)


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
            raise s.fault(f"GET {item.url}: {problem}", request)
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
        if reply.status != 200:
            raise s.fault(f"HEAD {item.url}: expected 200, got {reply.describe()}", request)
        got = reply.header("content-type")
        if got is None:
            raise s.fault(
                f"HEAD {item.url}: no Content-Type header (expected {' or '.join(sorted(expected))})", request
            )
        media = got.split(";")[0].strip().lower()
        if media not in expected:
            raise s.fault(
                f"{item.url} is served as Content-Type: {got}, expected {' or '.join(sorted(expected))}: "
                "derive the type from the extension (mimetypes.guess_type)",
                request,
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
            raise s.fault(f"HEAD {item.url}: {problem}", request)
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
            raise s.fault(f"GET {url} (no such file): expected 404 Not Found, got {reply.describe()}", request)

    token = f"{random.Random().getrandbits(32):08x}"
    for url in (f"/no-such-file-{token}.txt", f"/no-such-dir-{token}/index.html"):
        if not os.path.lexists(os.path.join(view.root, url.lstrip("/"))):
            body(url)
    n = falsify(
        _missing_names(view),
        body,
        examples=examples_for("http.not-found", options),
        options=options,
        reproduce=lambda url, fault: snippet(s.address, s.request("GET", url)),
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


@check(
    "http.bad-request",
    "malformed request lines and headers (garbage, missing parts, TLS bytes, bad escapes) are answered with a "
    "4xx status, never a crash, a 5xx or a silent close",
    weight=0.5,
    protocols=PROTOCOLS,
)
def bad_request(target: Target, options: CheckOptions) -> str:
    view, s = _root(options), Session(target, options)
    url = view.file().url.encode()
    for template in MALFORMED:
        request = template.replace(b"{url}", url)
        reply = s.send(request)
        if reply.status is None or not (400 <= reply.status < 500 or reply.status in _LENIENT_OK):
            raise s.fault(
                f"the malformed request {_first_line(request)} got {reply.describe()}: answer 400 Bad Request",
                request,
            )

    def body(line: bytes) -> None:
        request = line + b"\r\n\r\n"
        reply = s.send(request)
        if reply.status is None or (500 <= reply.status < 600 and reply.status not in _LENIENT_OK):
            raise s.fault(
                f"the request line {_first_line(request)} got {reply.describe()}: a malformed request line "
                "must be answered with a status (400), not a crash or a silent close",
                request,
            )

    n = falsify(
        _malformed_lines(),
        body,
        examples=examples_for("http.bad-request", options),
        options=options,
        reproduce=lambda line, fault: snippet(s.address, line + b"\r\n\r\n"),
        key="http.bad-request",
    )
    _still_serving(s, view)
    return f"{len(MALFORMED)} malformed requests answered 4xx; {n} generated request lines answered with a status"


@check(
    "http.method",
    "methods other than GET and HEAD (POST, PUT, DELETE, PATCH, unknown) get 405 (or 501) and change no file",
    protocols=PROTOCOLS,
)
def method(target: Target, options: CheckOptions) -> str:
    """POST, PATCH and an unknown method go to an existing file; PUT and DELETE, which a server implementing
    them would act on, go to a name that does not exist, so a user's files are never overwritten or deleted."""
    view, s = _root(options), Session(target, options)
    item = view.file()
    before = item.data()
    fresh = f"/harness-method-check-{random.Random().getrandbits(32):08x}.txt"
    for verb, url in (("POST", item.url), ("PATCH", item.url), ("BREW", item.url), ("PUT", fresh), ("DELETE", fresh)):
        extra = ["Content-Length: 5"] if verb in ("POST", "PUT", "PATCH") else []
        request = s.request(verb, url, extra) + (b"hello" if extra else b"")
        reply = s.send(request)
        if reply.status not in (405, 501):
            raise s.fault(
                f"{verb} {url} got {reply.describe()}: only GET and HEAD are served, other methods get "
                "405 Method Not Allowed",
                request,
            )
        if item.data() != before:
            raise s.fault(f"{verb} {url} changed {item.path} on disk", request)
    return "POST, PATCH, BREW, PUT and DELETE refused with 405/501"


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
        reproduce=lambda value, fault: snippet(s.address, value[0], chunks=value[1], pause=value[2]),
        key="http.split",
    )
    return f"{n + len(explicit)} requests split into pieces answered correctly"


def item_url(request: bytes) -> str:
    """The target of a request's first line."""
    parts = request.split(b"\r\n", 1)[0].split(b" ")
    return parts[1].decode("latin-1") if len(parts) > 1 else ""


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
    "no request (../, %2e%2e, //absolute, backslashes, NUL, symlinks, Hypothesis-generated mixes) gets the bytes "
    "of a file outside the root",
    protocols=PROTOCOLS,
)
def traversal(target: Target, options: CheckOptions) -> str:
    view, s = _root(options), Session(target, options)
    if not view.outside:
        raise CheckSkipped("no readable file outside the root to aim at (none beside it, no /etc/passwd)")

    def body(path: str) -> None:
        request = s.request("GET", path)
        reply = s.send(request, limit=OUTSIDE_MAX_SIZE + 64 * KiB)
        if reply.status is not None and 200 <= reply.status < 300:
            leaked = view.leaked(reply.body)
            if leaked is not None:
                link = view.link_to(leaked, path)
                via = f" (through the symlink {link} in the root, which points outside)" if link else ""
                raise s.fault(
                    f"GET {path} answered {reply.status} with the bytes of {leaked}, a file outside the "
                    f"root{via}: path traversal (decode the path, resolve it with realpath, and refuse anything "
                    "not under the root's realpath)",
                    request,
                )
        elif reply.status is None and (not reply.closed or not target.alive()):
            raise s.fault(f"GET {path}: {reply.describe()}", request)

    classic = classic_traversals(view)
    for path in classic:
        body(path)
    n = falsify(
        traversal_paths(view),
        body,
        examples=examples_for("http.traversal", options),
        options=options,
        reproduce=lambda path, fault: snippet(s.address, s.request("GET", path)),
        key="http.traversal",
    )
    return f"{len(classic)} classic and {n} generated traversal attempts on {len(view.outside)} files: none escaped"


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
        raise s.fault(f"{what}: {problem}; {advice}", request, expression=expression)
    _still_serving(s, view)
    if closed_silently:
        what, request, expression, reply = closed_silently[0]
        raise s.fault(
            f"{what}: {reply.describe()}: refused, but without a status line (answer 414 or 431 first)",
            request,
            expression=expression,
            warn=True,
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
        raise s.fault(f"GET {item.url} ({item.size} B): {problem}", request)
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
            raise s.fault(f"one of {len(chosen)} concurrent clients, GET {item.url}: {problem}", request)
    return f"served while another client stalled; {len(chosen)} concurrent clients served intact"


@check(
    "http.request-timeout",
    "a client that never finishes its request is answered 408 or disconnected within --timeout (+ --idle) s",
    protocols=PROTOCOLS,
)
def request_timeout(target: Target, options: CheckOptions) -> str:
    view, s = _root(options), Session(target, options)
    url = view.file().url
    partial = s.request("GET", url)[:-2]  # no blank line: the request never ends
    bound = options.timeout + options.idle
    reply = s.send(partial, timeout=bound, idle=bound)
    if not reply.closed and reply.status is None:
        raise s.fault(
            f"a client that sent only part of its request (no blank line) was still connected after {bound:.0f} s "
            "with no answer: slow or malicious clients pile up and each holds a thread or socket forever (set a "
            "read timeout, e.g. 10 s, then answer 408 Request Timeout and close)",
            partial,
            expression=None,
        )
    if reply.status is None:
        return f"an unfinished request was disconnected after {reply.seconds:.1f} s"
    return f"an unfinished request was answered {reply.status} after {reply.seconds:.1f} s"


__all__ = [
    "PROTOCOLS",
    "classic_traversals",
    "file_problem",
    "traversal_path",
    "traversal_paths",
]
