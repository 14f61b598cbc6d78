"""UDP echo server: every datagram goes back, unchanged, to the address that sent it.

``python -m servers.udp_echo [--host 127.0.0.1] [--port 0] [--listen-fd] [--grace 5]``

One thread, one non-blocking datagram socket and a selector that also watches the wake-up socket. Each
datagram is read whole into a preallocated 65535-byte buffer (larger than the largest UDP payload: 65507 B
over IPv4, 65527 B over IPv6), so nothing is ever truncated, and its bytes are never decoded. A reply that
cannot be sent (full send buffer, ``ENOBUFS``, a vanished client's ICMP error) is dropped, as UDP allows; no
network error ends the server. On shutdown the datagrams already queued are still echoed (bounded by
``grace``), then the socket is closed.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from collections.abc import Sequence
from typing import Any

from .base import DEFAULT_HOST, EchoServer, run_main

#: larger than any UDP payload (65535 - 8 B UDP header - 20 B IPv4 header = 65507; IPv6: 65527)
MAX_DATAGRAM = 65535
#: socket buffer size asked for (the kernel caps it at net.core.rmem_max / wmem_max): absorbs bursts
SOCKET_BUFFER = 4 << 20
#: errors an ICMP message (about an earlier reply) can leave pending on the socket
ICMP_ERRORS = frozenset({errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.EPROTO})
#: datagrams echoed per readiness event before the wake-up socket is looked at again
BATCH = 256


def raise_buffers(sock: socket.socket, size: int = SOCKET_BUFFER) -> None:
    """Ask for ``size``-byte receive and send buffers on ``sock`` unless they are already that large;
    a refusal keeps the kernel's default (never raises)."""
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        try:
            if sock.getsockopt(socket.SOL_SOCKET, option) < size:
                sock.setsockopt(socket.SOL_SOCKET, option, size)
        except OSError:
            pass


class UDPEchoServer(EchoServer):
    """Echoes each datagram to its sender from one thread; see the module docstring."""

    socktype = socket.SOCK_DGRAM
    #: bytes asked of each recvfrom: a whole datagram of any size
    recv_size = MAX_DATAGRAM

    def __init__(self, host: str = DEFAULT_HOST, port: int = 0, **options: Any) -> None:
        """As :class:`~servers.base.EchoServer` (``sock``, ``grace``; ``backlog`` means nothing for UDP)."""
        super().__init__(host, port, **options)
        raise_buffers(self.listener)
        self.echoed = 0  #: datagrams echoed so far
        self.dropped = 0  #: replies that could not be sent (dropped, as UDP allows)
        self.errors = 0  #: errors reported on the socket and survived (ICMP errors about earlier replies)

    def _serve(self) -> None:
        buffer = memoryview(bytearray(self.recv_size))
        with selectors.DefaultSelector() as sel:
            sel.register(self._wake_r, selectors.EVENT_READ)
            sel.register(self.listener, selectors.EVENT_READ)
            while not self.stopping:
                for key, _ in sel.select():
                    if key.fileobj is self._wake_r:
                        self.drain_wakeups()
                    else:
                        self.echo_pending(buffer)
        # stopping: echo what is already queued (the datagrams "in flight"), within the grace period
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline and self.echo_pending(buffer):
            pass

    def echo_pending(self, buffer: memoryview, batch: int = BATCH) -> int:
        """Echo up to ``batch`` queued datagrams without blocking; return how many were read (0: none was
        queued). Never raises for a network error: a datagram that cannot be echoed is dropped."""
        sock = self.listener
        for done in range(batch):
            try:
                size, sender = sock.recvfrom_into(buffer)
            except (BlockingIOError, InterruptedError):
                return done
            except OSError:  # an ICMP error reported for an earlier reply (e.g. ConnectionRefusedError)
                self.errors += 1
                continue
            self._reply(buffer[:size], sender)
        return batch

    def _reply(self, data: memoryview, sender: tuple[str, int]) -> None:
        """Send ``data`` back to ``sender``, or count it as dropped. An ICMP error left pending by an earlier
        reply (a vanished client) is reported by whichever call comes next, so it is retried once."""
        for attempt in range(2):
            try:
                self.listener.sendto(data, sender)
                self.echoed += 1
                return
            except OSError as exc:  # EAGAIN/ENOBUFS (buffer full): drop, as UDP allows
                self.errors += 1
                if attempt or exc.errno not in ICMP_ERRORS:
                    break
        self.dropped += 1


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    return run_main(UDPEchoServer, "UDP echo server: every datagram goes back unchanged to its sender.", argv)


if __name__ == "__main__":
    raise SystemExit(main())
