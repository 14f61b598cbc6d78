"""The plain threaded echo loop the hostile servers share (copied into none of them: they import it)."""

from __future__ import annotations

import os
import socket
import threading


def record(role: str) -> None:
    """Append ``ROLE PID`` to the file named by $HOSTILE_PIDS (if set): the test's own record of every process
    a hostile server made, independent of how the harness tracks them."""
    path = os.environ.get("HOSTILE_PIDS")
    if path:
        with open(path, "a") as f:
            f.write(f"{role} {os.getpid()}\n")


def listener(port: int) -> socket.socket:
    host = os.environ.get("HOST", "127.0.0.1")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def _handle(conn: socket.socket) -> None:
    with conn:
        try:
            while data := conn.recv(65536):
                conn.sendall(data)
        except OSError:
            pass


def serve(sock: socket.socket) -> None:
    """Accept forever, one daemon thread per client."""
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=_handle, args=(conn,), daemon=True).start()


def linger_forever() -> None:
    """What a helper process does: nothing, for ever (it ignores SIGTERM, as a careless log shipper may)."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        signal.pause()
