"""Implements PUT as an upload: the body is written to the named file, creating or overwriting it.

Caught by: http.method

Realistic: "PUT stores a file" is how HTTP describes it, so the server adds it for convenience; with no
authentication any client can now replace the site's pages or drop new files into it.
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
REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 431: "Too Large"}


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


def store(conn: socket.socket, head: bytes, target: str) -> None:
    """Write the request body (Content-Length bytes) to the file ``target`` names under ROOT: 201."""
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            length = int(value.strip())
    body = head.split(b"\r\n\r\n", 1)[1]
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    path = os.path.realpath(os.path.join(ROOT, unquote(target.split("?", 1)[0]).lstrip("/")))
    if not path.startswith(ROOT + os.sep):
        send_status(conn, 404)
        return
    with open(path, "wb") as f:
        f.write(body[:length])
    send_status(conn, 201)


def send_status(conn: socket.socket, status: int) -> None:
    body = f"{status} {REASONS[status]}\n".encode()
    head = f"HTTP/1.0 {status} {REASONS[status]}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
    conn.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)


def send_file(conn: socket.socket, method: str, path: str) -> None:
    size = os.path.getsize(path)
    ctype = mimetypes.guess_type(path)[0] or "application/octet-stream"
    head = f"HTTP/1.0 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {size}\r\n"
    conn.sendall(head.encode() + b"Connection: close\r\n\r\n")
    if method == "GET":
        with open(path, "rb") as f:
            while chunk := f.read(65536):
                conn.sendall(chunk)


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
    if method == "PUT":  # BUG: an upload nobody authorised: any client can create or overwrite files
        store(conn, head, target)
        return
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
