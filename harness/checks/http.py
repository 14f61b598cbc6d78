"""http-file checks: an HTTP/1.0 file server serves exactly the files under its root, and nothing outside it.

Every check judges what any server does on the wire, from what it finds in ``options.root`` (the directory
the server serves): it lists the files under it (bounded), picks a varied sample by extension and compares
each response with the bytes on disk. Outside the root it collects *traversal targets*: the files next to
the root, ``/etc/passwd`` and ``/etc/hostname``, and the targets of symlinks in the root that point outside.
A 2xx response whose body holds the bytes of one of them is a path traversal, whatever the request was.

:func:`make_root` builds a fixture tree (text, HTML, PNG, JPEG, all byte values, an 8 MiB file, a nested
file, names that need percent-encoding, symlinks pointing outside) for when the user gives no root.

Each exchange is one connection: the request is written (optionally in pieces with pauses), the response
read until the server closes, every wait bounded by ``options.timeout`` and ``options.idle``. A failure
carries a standalone snippet that sends the same bytes with ``socket.create_connection``.
"""

from __future__ import annotations

import base64
import os
import random
import re
import selectors
import socket
import stat
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from hypothesis import strategies as st

from .. import sysinfo
from ..errors import CheckSkipped, ServerFault, ServerWarning
from ..net import Address, connect, format_address
from ..targets import Target
from ..waiting import poll_until
from .base import CheckOptions, Verdict, check, examples_for, falsify

PROTOCOLS = ("http-file",)
KiB = 1024
MiB = 1024 * 1024

# -- the fixture tree -------------------------------------------------------------------------------------

#: the 16x16 Python logo, from CPython's Lib/test/imghdrdata (PSF licence): a real PNG and a real JPEG
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAMAAAAoLQ9TAAAAIGNIUk0AAHomAACAhAAA+gAAAIDoAAB1MAAA6mAAADqYAAAXcJy6UTwAAAHF"
    "UExURQAAAE6NwEqGujxxnjdolgAAAAAAAAAAAAAAAAAAAE6PxEyKv0iFtkN9rT10oTlsljZmkAAAAAAAAFKRxv3dSvnVPgAAADJghwAAAP3V"
    "NgAAADVokgAAAOzORQAAADZpkxsxRQAAAAAAAOLDRf3ZQQAAAEaBsjZnkQAAAPLhbv3pav3LG0N9rhwyS/Xjb/PBGkB1oz1zogAAAMKaEgAA"
    "AAAAAAAAAAAAAAAAAOjHPevFNOvCKuu+Ieu7GMabEgAAAAAAAAAAAAAAAAAAAAAAAAAAAP3eTgAAAAAAAAAAAAAAAPHQP/rTOf3SL/rHGcCX"
    "EgAAAAAAAAAAAAAAAAAAAAAAAEiDtER+rUB4p0yKvP///0V/r0F5qD50ojpvmzZplEmFt0aAsUJ7qj51oztwnTdqljhsl0+NwUuIu0R9rUB4"
    "pj1zoDltmf/iVVCPw0yJvEiEtT10of/eS//aQU2LvkaAsDtwnP/aQv/WN//TLUqHuUeBskN8qz92pf/XOP/PI//mYf/jV//fTf/bQv/TLv/P"
    "JP/rbP/nYf/bQ//XOf/MHDpwnP/nYv/jWP/fTv/TL//bRP/XOv/TMP/QJf/YOv/UMP/QJpJJAAIAAABWdFJOUwCv7feSCwMoQRV+oKGjp6qq"
    "SBi994IKtkPtJPdPiD22XExHa/dG96pOpvf311uzwm/3S3o0CCE8NaqpqampeSACCRMSLB73QBwFAUzM99h7Ox1CRTgf+DIQcQAAAAFiS0dE"
    "WgO7paIAAAD1SURBVBjTY2AAAkamsPAIZhZWNgYoiIyKjomNi2dnhQkkJCYlp6TGc3CCeVzcPLx8/AJp8fGCQiC+cHpGWGZWdk48UCBXRFSM"
    "IS+/IDqmMA7IF5coKpaUYihJKE1KLkuNlxaXkS2vqJRjqKquqZVXUBRU4lBWqausV2VQy8xS19DUamhsaq5radVWYtCJKdTVa2tvbOrobGnt"
    "0udgMDDsNmrr6e3r6Oxv7eoyNmEwNTO3APItraxtbG3tOOwZHBydnHv7JkycNLmLw8LFFeJ6twlTpk6L0nb3cPT0Agt4+/hO6/LzD3CGec40"
    "0CJIKTgk1BTIBgBAYkJ/yC2b5QAAACV0RVh0ZGF0ZTpjcmVhdGUAMjAxNC0wMS0yNlQyMDo1OTozNyswMjowMPuaB3cAAAAldEVYdGRhdGU6"
    "bW9kaWZ5ADIwMTQtMDEtMjZUMjA6NTk6MDArMDI6MDDB74amAAAAAElFTkSuQmCC"
)
JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEAAQABAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsOCwkJDRENDg8QEBEQCgwS"
    "ExIQEw8QEBD/2wBDAQMDAwQDBAgEBAgQCwkLEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBD/wAAR"
    "CAAQABADASIAAhEBAxEB/8QAFgABAQEAAAAAAAAAAAAAAAAABwQF/8QAJBAAAQQBBAICAwAAAAAAAAAAAQIDBAYFBwgSExEiABQJMTL/xAAV"
    "AQEBAAAAAAAAAAAAAAAAAAAABv/EACMRAAECBQMFAAAAAAAAAAAAAAECEQMEBQYhABIxFRZhgeH/2gAMAwEAAhEDEQA/ABSm0mobc8HmExLU"
    "lRzzEWPkJWW+ulrsaUVAseUgslSlH9LKuPryIKuWPZdskzXmm3fX5m2nF4GlVxx/HOpx4ks51+MiU/Iaad7UcUo4tILoS4kqcWkezS0hO/Hv"
    "uRp0rO6hWnWO1UisZVuFi4GFeyEpmGepa5S5SWVPuciFKRFLgSrwetnyPIB+Vb4N9mKhQMzo5po9XLdDs9d6ZVix2VEhiL9kuNPxw2gEKcDQ"
    "/rs8AuA8VAe0vdl7VOYn+27flGAUgmITjbhSmCg3BYlyeWDkMolvw4KOp1KM6iCNvngZHwetf//Z"
)
SECRET = b"TOP SECRET: this file is outside the served root; a server that sends it has a path traversal hole.\n"
LARGE_SIZE = 8 * MiB


def make_root(parent: Path) -> Path:
    """Create ``parent/"root"``, a tree exercising every http-file check, and return its path.

    It holds text (``hello.txt``, UTF-8), HTML (``index.html``), a real PNG and JPEG, ``all-bytes.bin``
    (every byte value), ``large.bin`` (8 MiB, for streaming), ``sub/nested.txt``, names that must be
    percent-encoded (``with space.txt``, ``café.txt``), and two symlinks pointing outside the root:
    ``escape.txt`` to ``parent/"secret.txt"`` and ``outside`` to ``parent`` itself. Next to the root lie the
    secrets (``secret.txt``, and ``root-private.txt``, which only a prefix test without a separator
    mistakes for a file inside ``root``). Idempotent for a fresh ``parent``.
    """
    root = parent / "root"
    (root / "sub").mkdir(parents=True, exist_ok=True)
    (parent / "secret.txt").write_bytes(SECRET)
    (parent / "root-private.txt").write_bytes(b"PRIVATE: next to the root, not inside it.\n" + SECRET)
    (root / "hello.txt").write_bytes("Hello, world!\nGrüße, こんにちは\n".encode())
    (root / "index.html").write_bytes(
        b"<!DOCTYPE html>\n<html><head><title>http-file</title></head>\n"
        b'<body><h1>It works</h1><img src="logo.png"></body></html>\n'
    )
    (root / "logo.png").write_bytes(PNG)
    (root / "photo.jpg").write_bytes(JPEG)
    (root / "all-bytes.bin").write_bytes(bytes(range(256)) * 4)
    (root / "large.bin").write_bytes(random.Random(8).randbytes(LARGE_SIZE))
    (root / "sub" / "nested.txt").write_bytes(b"a file in a subdirectory\n")
    (root / "with space.txt").write_bytes(b"a file whose name has a space\n")
    (root / "café.txt").write_bytes("a file whose name is not ASCII: café\n".encode())
    for link, to in ((root / "escape.txt", parent / "secret.txt"), (root / "outside", parent)):
        if not link.is_symlink():
            link.symlink_to(to)
    return root


# -- one exchange on the wire -----------------------------------------------------------------------------


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


# -- what the checks look at: the root, its files, and what lies outside it -------------------------------


@dataclass(frozen=True)
class Item:
    """A file the server must serve (``url`` is its percent-encoded path) or, for traversal targets, a file
    outside the root (``url`` is how a symlink in the root reaches it, else empty)."""

    path: str
    url: str
    size: int

    def data(self) -> bytes:
        """The file's bytes now."""
        with open(self.path, "rb") as f:
            return f.read()

    @property
    def ext(self) -> str:
        return os.path.splitext(self.path)[1].lower()


@dataclass
class Root:
    """What the checks know of the served directory (scanned once per directory, bounded)."""

    root: str  #: real path
    files: list[Item]  #: regular, readable, non-hidden files reached without symlinks (at most MAX_FILES)
    sample: list[Item]  #: a varied selection of small files
    largest: Item | None
    outside: list[Item]  #: traversal targets
    outside_data: dict[str, bytes]

    def leaked(self, body: bytes) -> str | None:
        """The real path of the traversal target whose bytes ``body`` is (or else contains), if any."""
        for path, data in self.outside_data.items():
            if body == data:
                return path
        for path, data in self.outside_data.items():
            if len(data) >= 16 and data in body:
                return path
        return None

    def link_to(self, path: str, url: str) -> str | None:
        """The symlink in the root (as a URL path) through which ``url`` reaches ``path``, if it does."""
        for item in self.outside:
            if item.url and item.path == path and url.startswith(item.url):
                return item.url.rsplit("/", 1)[0] if item.url.count("/") > 1 else item.url
        return None

    def file(self, max_size: int = 64 * KiB) -> Item:
        """A small sample file (the smallest non-empty one when none is under ``max_size``)."""
        small = [f for f in self.sample if 0 < f.size <= max_size] or sorted(self.sample, key=lambda f: f.size)
        return small[0]


MAX_FILES = 5000  #: files listed under a root at most
MAX_SAMPLE = 16
SAMPLE_MAX_SIZE = MiB
OUTSIDE_MAX_SIZE = MiB
SYSTEM_TARGETS = ("/etc/passwd", "/etc/hostname")


def url_for(relative: str) -> str:
    """The percent-encoded absolute path for a path relative to the root (``/`` separated)."""
    return "/" + "/".join(urllib.parse.quote(os.fsencode(part), safe="") for part in relative.split("/"))


def scan_root(root: str) -> Root:
    """List the files under ``root`` and the traversal targets outside it (cached per directory)."""
    return _scan(os.path.realpath(root))


@lru_cache(maxsize=8)
def _scan(root: str) -> Root:
    files: list[Item] = []
    links: list[tuple[str, str]] = []  # (relative path in root, real target outside the root)
    for rel, full in _walk(root):
        info = os.lstat(full)
        if stat.S_ISLNK(info.st_mode):
            real = os.path.realpath(full)
            if not _under(root, real):
                links.append((rel, real))
        elif stat.S_ISREG(info.st_mode) and os.access(full, os.R_OK) and len(files) < MAX_FILES:
            files.append(Item(full, url_for(rel), info.st_size))
    sample = _varied(files)
    big = [f for f in files if f.size <= 64 * MiB]
    largest = max(big, key=lambda f: f.size) if big else None
    outside, data = _outside(root, files, links)
    return Root(root, files, sample, largest, outside, data)


def _walk(root: str) -> Iterator[tuple[str, str]]:
    """(relative path, full path) of every entry under ``root``, hidden ones excluded, symlinks not followed."""
    seen = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = os.path.relpath(dirpath, root)
        names = sorted(n for n in filenames if not n.startswith("."))
        names += [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        for name in names:
            seen += 1
            if seen > 4 * MAX_FILES:
                return
            rel = name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")
            yield rel, os.path.join(dirpath, name)


def _under(root: str, path: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _varied(files: list[Item]) -> list[Item]:
    """One small file per extension, plus a nested one and one whose name needs encoding (bounded)."""
    small = sorted(
        (f for f in files if f.size <= SAMPLE_MAX_SIZE), key=lambda f: ("%" in f.url, f.url.count("/"), f.url)
    )
    chosen: dict[str, Item] = {}
    known = [f for f in small if f.ext in EXPECTED_TYPES]
    for item in known + small:
        chosen.setdefault(item.ext, item)
    extra = [
        next((f for f in small if f.url.count("/") > 1), None),
        next((f for f in small if "%20" in f.url), None),
        next((f for f in small if not os.path.basename(f.path).isascii()), None),
    ]
    picked = list(chosen.values())
    for more in extra:
        if more is not None and more not in picked:
            picked.append(more)
    return picked[:MAX_SAMPLE]


def _outside(root: str, files: list[Item], links: list[tuple[str, str]]) -> tuple[list[Item], dict[str, bytes]]:
    """Traversal targets: symlink escapes, files next to the root, system files; never a file whose bytes
    are also served from inside the root (that would make a legitimate answer look like a leak)."""
    candidates: list[Item] = []
    for rel, real in links[:20]:
        if os.path.isfile(real):
            candidates.append(Item(real, url_for(rel), os.path.getsize(real)))
        elif os.path.isdir(real):
            try:
                names = sorted(os.listdir(real))[:200]
            except OSError:
                continue
            inner = [n for n in names if os.path.isfile(os.path.join(real, n))][:3]
            candidates += [
                Item(os.path.join(real, n), url_for(f"{rel}/{n}"), os.path.getsize(os.path.join(real, n)))
                for n in inner
            ]
    parent = os.path.dirname(root)
    try:
        beside = sorted(os.listdir(parent))[:200]
    except OSError:
        beside = []
    for name in beside:
        full = os.path.join(parent, name)
        if os.path.isfile(full) and not os.path.islink(full) and len(candidates) < 40:
            candidates.append(Item(full, "", os.path.getsize(full)))
    candidates += [Item(p, "", os.path.getsize(p)) for p in SYSTEM_TARGETS if os.path.isfile(p)]
    sizes = {f.size for f in files}
    outside: list[Item] = []
    data: dict[str, bytes] = {}
    for item in candidates:
        real = os.path.realpath(item.path)
        if _under(root, real) or not 0 < item.size <= OUTSIDE_MAX_SIZE or not os.access(real, os.R_OK):
            continue
        try:
            content = item.data()
        except OSError:
            continue
        if item.size in sizes and any(f.size == item.size and f.data() == content for f in files):
            continue
        if Item(real, item.url, item.size) not in outside:
            outside.append(Item(real, item.url, item.size))
            data[real] = content
    return outside, data


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


# -- shared judging ---------------------------------------------------------------------------------------

#: media types an extension must be served with (any of the set; parameters such as charset are ignored)
EXPECTED_TYPES: dict[str, frozenset[str]] = {
    ext: frozenset(types.split())
    for ext, types in {
        ".html": "text/html",
        ".htm": "text/html",
        ".txt": "text/plain",
        ".css": "text/css",
        ".js": "text/javascript application/javascript application/x-javascript",
        ".json": "application/json",
        ".png": "image/png",
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
        ".gif": "image/gif",
        ".svg": "image/svg+xml",
        ".webp": "image/webp",
        ".pdf": "application/pdf",
        ".zip": "application/zip",
        ".wasm": "application/wasm",
        ".mp4": "video/mp4",
    }.items()
}


def request_bytes(method: str, url: str, address: Address, extra: Sequence[str] = ()) -> bytes:
    """An HTTP/1.0 request head for ``url`` with Host and User-Agent headers (and ``extra`` header lines)."""
    lines = [f"{method} {url} HTTP/1.0", f"Host: {format_address(address)}", "User-Agent: socket-harness", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


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

    def still_serving(self, view: Root) -> None:
        """Fail unless a plain GET of a small file still works (after abuse)."""
        item = view.file()
        request = self.request("GET", item.url)
        problem = file_problem(self.send(request), item.data())
        if problem is not None:
            raise self.fault(f"afterwards, a plain GET {item.url} failed: {problem}", request)


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
    s.still_serving(view)
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
    s.still_serving(view)
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
    s.still_serving(view)
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
    s.still_serving(view)  # warm up: whatever a first request loads is loaded before measuring
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
    "EXPECTED_TYPES",
    "JPEG",
    "PNG",
    "SECRET",
    "Reply",
    "Root",
    "classic_traversals",
    "fetch",
    "make_root",
    "scan_root",
    "snippet",
    "traversal_path",
    "traversal_paths",
]
