"""The directory an http-file server serves, as the checks see it, and the fixture tree built for them.

:func:`scan_root` lists the files under a root (bounded: at most ``MAX_FILES``, hidden entries skipped,
symlinks not followed) and picks a varied sample by extension. Outside the root it collects *traversal
targets*: the files next to the root, ``/etc/passwd`` and ``/etc/hostname``, and the targets of symlinks in
the root that point outside; never a file whose bytes are also served from inside the root, so a 2xx
response holding the bytes of a target is a path traversal, whatever the request was. Scans are cached per
directory.

:func:`make_root` builds a fixture tree (text, HTML, PNG, JPEG, all byte values, an 8 MiB file, a nested
file, names that need percent-encoding, symlinks pointing outside) for when the user gives no root.
"""

from __future__ import annotations

import base64
import contextlib
import os
import random
import stat
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from . import containment
from .strategies import KiB, MiB

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


@contextlib.contextmanager
def fixture_root() -> Iterator[str]:
    """A :func:`make_root` tree in a temporary directory, removed when the block ends (or by the watchdog, if
    the harness dies first); yields the root."""
    with containment.temporary_directory("harness-root-") as parent:
        yield str(make_root(Path(parent)))


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
    links: dict[str, str] = field(default_factory=dict)  #: URL path of each symlink pointing outside -> its target

    def via_symlink(self, target: str, leaked: str) -> str | None:
        """The symlink in the root (its URL path) that the request target ``target`` names as an ordinary path
        inside the root, when the file ``leaked`` is that symlink's target or lies under it; else None.

        Ordinary: query and fragment dropped, percent-decoded once, no backslash, NUL or ``%`` left, its
        ``.``/``..`` segments removed as RFC 3986 section 5.2.4 does (a ``..`` at the top stays at the root).
        Serving such a request is following a link that the administrator placed in the root, not a request
        escaping it: a file outside the root served for any other request is an escape."""
        path = target.split("?", 1)[0].split("#", 1)[0]
        if not path.startswith("/"):
            return None
        decoded = urllib.parse.unquote_to_bytes(path)
        if any(c in decoded for c in (b"\\", b"\x00", b"%")):
            return None
        stack: list[bytes] = []
        for segment in decoded.split(b"/"):
            if segment == b"..":
                if stack:
                    stack.pop()
            elif segment not in (b"", b"."):
                stack.append(segment)
        normal = b"/" + b"/".join(stack)
        for url, real in self.links.items():
            link = urllib.parse.unquote_to_bytes(url)
            if (normal == link or normal.startswith(link + b"/")) and _under(real, leaked):
                return url
        return None

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
    return Root(root, files, sample, largest, outside, data, {url_for(rel): real for rel, real in links})


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


__all__ = [
    "EXPECTED_TYPES",
    "JPEG",
    "LARGE_SIZE",
    "OUTSIDE_MAX_SIZE",
    "PNG",
    "SECRET",
    "Item",
    "Root",
    "make_root",
    "scan_root",
    "url_for",
]
