"""Sends a file with `os.sendfile()` at an offset it never advances: the first 64 KiB go out again and again, forever.

Caught by: http.get

Realistic: `os.sendfile(out, in, offset, count)` does not move the file's position when given an offset, and the
loop waits for it to return 0 at the end of the file; without `offset += sent` that never comes. The headers
(Content-Length included) are right, but the body never ends: a client that keeps what it is sent runs out of
memory.
"""

from __future__ import annotations

import mimetypes
import os
import signal
import socket
import sys
import threading
from types import FrameType
from urllib.parse import unquote

ROOT = os.path.realpath(sys.argv[2] if len(sys.argv) > 2 else os.environ.get("ROOT", "."))
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 431: "Too Large"}


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def read_head(conn: socket.socket) -> bytes | None:
    """The request head up to the blank line, or None when it grows past 32 KiB."""
    conn.settimeout(5)  # a client that never finishes its request is dropped
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionAbortedError("the client closed before the end of its request")
        data += chunk
        if len(data) > 32768:
            return None
    return data


def resolve(target: str) -> str | None:
    """The real path of the file ``target`` names under ROOT, or None when it is outside or not a file."""
    path = unquote(target.split("?", 1)[0])
    if "\x00" in path:
        return None
    real = os.path.realpath(os.path.join(ROOT, path.lstrip("/")))
    if not real.startswith(ROOT + os.sep) or not os.path.isfile(real):
        return None
    return real


def send_status(conn: socket.socket, status: int) -> None:
    body = f"{status} {REASONS[status]}\n".encode()
    head = f"HTTP/1.0 {status} {REASONS[status]}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
    conn.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)


def send_file(conn: socket.socket, method: str, path: str) -> None:
    ctype = mimetypes.guess_type(path)[0] or "application/octet-stream"
    head = f"HTTP/1.0 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {os.path.getsize(path)}\r\n"
    conn.sendall(head.encode() + b"Connection: close\r\n\r\n")
    if method == "GET":
        conn.settimeout(None)  # sendfile() on a blocking socket: each call sends its whole count
        with open(path, "rb") as f:
            offset = 0
            while True:
                sent = os.sendfile(conn.fileno(), f.fileno(), offset, 65536)
                if sent == 0:  # the end of the file
                    break
                # BUG: `offset += sent` is missing: the same first bytes are sent again, and 0 never comes


def respond(conn: socket.socket) -> None:
    head = read_head(conn)
    if head is None:
        send_status(conn, 431)
        return
    parts = head.split(b"\r\n", 1)[0].split(b" ")
    if len(parts) != 3 or not parts[1].startswith(b"/") or parts[2] not in (b"HTTP/1.0", b"HTTP/1.1"):
        send_status(conn, 400)
        return
    method, target = parts[0].decode("latin-1"), parts[1].decode("latin-1")
    if method not in ("GET", "HEAD"):
        send_status(conn, 405)
        return
    path = resolve(target)
    if path is None:
        send_status(conn, 404)
        return
    send_file(conn, method, path)


def handle(conn: socket.socket) -> None:
    with conn:
        try:
            respond(conn)
            conn.shutdown(socket.SHUT_WR)  # FIN, then drain: closing with unread input would send RST
            conn.settimeout(1)
            while conn.recv(65536):
                pass
        except OSError:  # ConnectionResetError, BrokenPipeError, timeouts: drop this client only
            pass


def main() -> None:
    signal.signal(signal.SIGTERM, on_sigterm)
    host = os.environ.get("HOST", "127.0.0.1")
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, int(sys.argv[1])))
    listener.listen(128)
    print("listening on {}:{}".format(*listener.getsockname()[:2]), flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
