"""HTTP/1.0 file server: ``GET`` and ``HEAD`` of the files under a root directory, and nothing outside it.

``python -m servers.http_file --root DIR [--request-timeout 5] [--host 127.0.0.1] [--port 0] [--listen-fd]``

One request per connection (HTTP/1.0, ``Connection: close``), served by a thread of the threaded server:

- The request head (request line and headers, up to the blank line) is read into a bounded buffer, however
  it is split across TCP segments: a request line longer than ``MAX_REQUEST_LINE`` bytes is answered 414,
  a head longer than ``MAX_HEAD`` bytes or with more than ``MAX_HEADERS`` header lines 431. The whole head
  must arrive within ``request_timeout`` seconds (one deadline, so a client trickling a byte at a time is cut
  off too), else 408. Memory follows what arrives: the buffer never holds more than ``MAX_HEAD + 1`` bytes,
  a waiting connection holds no read buffer, and nothing is sized by what a request declares
  (``Content-Length``, ``Range`` and every other header are checked for form only).
- The request line must be ``METHOD SP /target SP HTTP/d.d`` in ASCII (else 400), or carry the absolute form
  ``http://authority/target`` (which RFC 9112 says every HTTP/1.1 server MUST accept; the authority is
  ignored: there is one tree); methods other than GET and HEAD get 405 with ``Allow: GET, HEAD``; an HTTP
  major version other than 1 gets 505.
- The target's path (query and fragment dropped) is percent-decoded once; a malformed escape or a NUL byte
  is 400. It is resolved with :func:`os.path.realpath` under the root's real path and must stay under it:
  ``..``, encoded ``%2e%2e``, absolute paths and symlinks pointing outside all end outside and get 404 (the
  answer does not reveal whether the file exists). Symlinks that stay inside the root are followed.
- A directory is served as its ``index.html`` when it has one (same rules), else 404. Only regular files
  are served (a FIFO or device gets 404, and is opened with ``O_NONBLOCK`` so it cannot block us); an
  unreadable file gets 403.
- A 200 carries ``Content-Type`` (from the extension, Python's built-in table only, so the answer does not
  depend on the machine's ``/etc/mime.types``; ``application/octet-stream`` when unknown),
  ``Content-Length`` (the size when opened) and ``Connection: close``; the file is sent with
  :meth:`socket.socket.sendfile` (``os.sendfile``: from the page cache to the socket, so a client that stops
  reading holds no buffer of ours; 8 KiB reads where the platform has none), so memory stays bounded
  whatever the file size. HEAD sends the same headers and no body.
- After the response the server half-closes (FIN) and discards what the client still sends for at most
  ``LINGER`` seconds before closing: closing with unread input would send RST, which can destroy the end
  of the response before the client has read it.
"""

from __future__ import annotations

import argparse
import mimetypes
import os
import re
import socket
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .base import DEFAULT_HOST, ServerSetupError, discard_until_closed, recv_arrived_into, run_main
from .threaded import ThreadedEchoServer

MAX_REQUEST_LINE = 8 * 1024  #: longest request line accepted (bytes, without CRLF): longer is 414
MAX_HEAD = 32 * 1024  #: longest request head accepted (request line and headers): longer is 431
MAX_HEADERS = 100  #: most header lines accepted (as Apache and Python's http.server): more is 431
DEFAULT_REQUEST_TIMEOUT = 5.0  #: seconds a client has to send its whole request head: later is 408
CHUNK = 64 * 1024  #: most bytes asked of one read of the request (or of what follows the response)
LINGER = 2.0  #: seconds spent discarding the client's input after the response, before closing
SEND_TIMEOUT = 30.0  #: a client that takes nothing of the response for this long is dropped

ALLOWED = ("GET", "HEAD")
DEFAULT_TYPE = "application/octet-stream"
#: the extension table built into Python (MimeTypes() without files ignores the machine's mime.types)
_TYPES = mimetypes.MimeTypes()
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION = re.compile(rb"HTTP/([0-9])\.([0-9])")
_ESCAPE = re.compile(rb"%([0-9A-Fa-f]{2})")
_ABSOLUTE = re.compile(rb"[Hh][Tt][Tt][Pp][Ss]?://[^/?#]*")

REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    505: "HTTP Version Not Supported",
}


class HTTPError(Exception):
    """A request that ends in an error status; ``headers`` are extra response headers."""

    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.headers = headers or {}


@dataclass
class Request:
    """A parsed request line (the headers are checked for form, not used)."""

    method: str
    target: bytes
    version: tuple[int, int]
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


def content_type(path: str) -> str:
    """The media type for ``path``'s extension from Python's built-in table; ``application/octet-stream``
    when the extension is unknown."""
    guessed, _ = _TYPES.guess_type(path, strict=False)
    return guessed or DEFAULT_TYPE


def parse_request_line(line: bytes) -> Request:
    """Parse ``METHOD SP TARGET SP HTTP/d.d``; an absolute-form target (``http://host/path``) becomes its
    origin form (``/path``, ``/`` when empty). Raises :class:`HTTPError` 400 for any other shape (including
    non-ASCII bytes and other targets not starting with ``/``), 505 for a major version other than 1, 405
    (with ``Allow``) for a well-formed request with a method other than GET or HEAD."""
    parts = line.split(b" ")
    if len(parts) == 3 and (authority := _ABSOLUTE.match(parts[1])) is not None:
        rest = parts[1][authority.end() :]
        parts[1] = rest if rest.startswith(b"/") else b"/" + rest
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1].startswith(b"/"):
        raise HTTPError(400)
    if any(b <= 0x20 or b >= 0x7F for b in parts[1]):
        raise HTTPError(400)
    version = _VERSION.fullmatch(parts[2])
    if version is None:
        raise HTTPError(400)
    if version.group(1) != b"1":
        raise HTTPError(505)
    method = parts[0].decode("ascii")
    if method not in ALLOWED:
        raise HTTPError(405, {"Allow": ", ".join(ALLOWED)})
    return Request(method, parts[1], (int(version.group(1)), int(version.group(2))))


def parse_header_line(line: bytes) -> tuple[bytes, bytes]:
    """``name: value`` with a token name; :class:`HTTPError` 400 otherwise (including obsolete line folding)."""
    name, colon, value = line.partition(b":")
    if not colon or not _TOKEN.fullmatch(name):
        raise HTTPError(400)
    return name, value.strip(b" \t")


def percent_decode(path: bytes) -> bytes:
    """Decode ``%XX`` escapes once (``%252e`` stays ``%2e``); :class:`HTTPError` 400 for a ``%`` that does not
    start a valid escape, and for a NUL byte, encoded or not."""
    if b"%" in _ESCAPE.sub(b"", path):
        raise HTTPError(400)
    decoded = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), path)
    if b"\x00" in decoded:
        raise HTTPError(400)
    return decoded


def resolve(root: str, target: bytes) -> str:
    """The real path ``target`` names under ``root`` (itself a real path); it need not exist.

    Query and fragment are dropped, the path is percent-decoded once and resolved with ``realpath`` (``..``,
    ``.``, repeated slashes and every symlink); the result must be ``root`` or lie under it, else 404. A
    directory stands for its ``index.html``. Raises :class:`HTTPError` 400 for a bad escape or NUL. Never
    returns a path outside ``root``; whether a file is there is for the caller's ``open`` to find out.
    """
    path = target.split(b"?", 1)[0].split(b"#", 1)[0]
    relative = os.fsdecode(percent_decode(path)).lstrip("/")
    real = _inside(root, os.path.join(root, relative))
    if os.path.isdir(real):
        real = _inside(root, os.path.join(real, "index.html"))
    return real


def _inside(root: str, path: str) -> str:
    real = os.path.realpath(path)
    if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
        raise HTTPError(404)
    return real


class HTTPFileServer(ThreadedEchoServer):
    """Serves the files under ``root`` over HTTP/1.0; see the module docstring."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = 0,
        *,
        root: str | os.PathLike[str] = ".",
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        **options: Any,
    ) -> None:
        """As :class:`~servers.threaded.ThreadedEchoServer` (``sock``, ``grace``, ``backlog``), plus the
        directory served and the seconds a client has to send its request head."""
        real = os.path.realpath(root)
        if not os.path.isdir(real):
            if options.get("sock") is not None:
                options["sock"].close()
            raise ServerSetupError(f"--root {os.fspath(root)!r} is not a directory")
        if not 0 < request_timeout < float("inf"):
            raise ValueError(f"request_timeout must be a finite number of seconds > 0, got {request_timeout!r}")
        super().__init__(host, port, **options)
        self.root = real
        self.request_timeout = request_timeout

    # -- one connection ---------------------------------------------------------------------------------
    def handle(self, conn: socket.socket) -> None:
        """Read one request, answer it, then close cleanly (FIN, then input discarded for ``LINGER`` s).
        Network errors and timeouts end the connection quietly; nothing a client sends can raise here."""
        try:
            try:
                request = self.read_request(conn)
                self.respond(conn, request)
            except HTTPError as exc:
                self.send_error(conn, exc.status, exc.headers)
            conn.shutdown(socket.SHUT_WR)
            discard_until_closed(conn, LINGER, CHUNK)
        except OSError:  # reset, broken pipe, send timeout: this client is gone
            pass

    def read_request(self, conn: socket.socket) -> Request:
        """Read and parse the request head within ``request_timeout`` seconds, in a buffer never larger than
        ``MAX_HEAD + 1`` bytes and filled only with what has arrived (:func:`~servers.base.recv_arrived_into`),
        keeping at most ``MAX_HEADERS`` parsed header lines. The request line is judged as soon as it is
        complete, so a malformed one is answered at once. Raises :class:`HTTPError` (400, 405, 408, 414, 431,
        505) for a bad request and ``OSError`` when the client resets or closes before finishing it."""
        deadline = time.monotonic() + self.request_timeout
        buffer = bytearray()
        request: Request | None = None
        start = 0  # where the current (incomplete) line begins
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                if request is None and len(buffer) > MAX_REQUEST_LINE + 1:  # + 1: room for the CR
                    raise HTTPError(414)
                if len(buffer) > MAX_HEAD:
                    raise HTTPError(431)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise HTTPError(408)
                conn.settimeout(left)
                try:
                    got = recv_arrived_into(conn, buffer, min(CHUNK, MAX_HEAD + 1 - len(buffer)))
                except TimeoutError:
                    raise HTTPError(408) from None
                if not got:
                    raise ConnectionAbortedError("the client closed before the end of its request")
                continue
            line = bytes(buffer[start:end]).removesuffix(b"\r")
            start = end + 1
            if request is None:
                if len(line) > MAX_REQUEST_LINE:
                    raise HTTPError(414)
                request = parse_request_line(line)
            elif not line:
                return request
            elif len(request.headers) >= MAX_HEADERS:
                raise HTTPError(431)
            else:
                request.headers.append(parse_header_line(line))
            if start > MAX_HEAD:
                raise HTTPError(431)

    def respond(self, conn: socket.socket, request: Request) -> None:
        """Answer a valid GET or HEAD: 200 with the file (HEAD: headers only), else 403/404."""
        path = resolve(self.root, request.target)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
        except PermissionError:
            raise HTTPError(403) from None
        except OSError:  # vanished, a dangling or swapped symlink, a directory without index.html
            raise HTTPError(404) from None
        with open(fd, "rb", buffering=0) as f:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise HTTPError(404)
            conn.settimeout(SEND_TIMEOUT)
            conn.sendall(head(200, {"Content-Type": content_type(path), "Content-Length": str(info.st_size)}))
            if request.method == "HEAD":
                return
            if info.st_size:  # exactly Content-Length bytes: a file that shrinks meanwhile ends the response short
                conn.sendfile(f, 0, info.st_size)

    def send_error(self, conn: socket.socket, status: int, headers: dict[str, str]) -> None:
        """Send an error response with a one-line text body."""
        body = f"{status} {REASONS[status]}\n".encode()
        fields = {**headers, "Content-Type": "text/plain; charset=utf-8", "Content-Length": str(len(body))}
        conn.settimeout(SEND_TIMEOUT)
        conn.sendall(head(status, fields) + body)

    # -- command line ------------------------------------------------------------------------------------
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--root", default=".", help="directory to serve (default: the current directory)")
        parser.add_argument(
            "--request-timeout",
            type=float,
            default=DEFAULT_REQUEST_TIMEOUT,
            help="seconds a client has to send its whole request head, else 408 (default: %(default)s)",
        )

    @classmethod
    def options_from(cls, args: argparse.Namespace) -> dict[str, object]:
        if not os.path.isdir(args.root):
            raise ServerSetupError(f"--root {args.root!r} is not a directory")
        if not 0 < args.request_timeout < float("inf"):
            raise ServerSetupError(f"--request-timeout must be > 0 and finite, got {args.request_timeout}")
        return {"root": args.root, "request_timeout": args.request_timeout}


def head(status: int, fields: dict[str, str]) -> bytes:
    """The status line and headers of a response (with ``Connection: close``), ending with the blank line."""
    lines = [f"HTTP/1.0 {status} {REASONS[status]}", *(f"{k}: {v}" for k, v in fields.items()), "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    return run_main(HTTPFileServer, "HTTP/1.0 file server: GET and HEAD of the files under --root.", argv)


if __name__ == "__main__":
    raise SystemExit(main())
