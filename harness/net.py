"""Loopback addressing helpers: ephemeral ports, a guaranteed-refused address, bounded connects, resets."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
import struct
from collections.abc import Iterator

from .errors import HarnessError

Address = tuple[str, int]

LOOPBACK_HOSTS = ("127.0.0.1", "::1")


def family_of(host: str) -> socket.AddressFamily:
    """AF_INET or AF_INET6 for a literal loopback address; :class:`HarnessError` for anything else."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise HarnessError(f"host must be a loopback address literal (127.0.0.1 or ::1), got {host!r}") from None
    if not ip.is_loopback:
        raise HarnessError(f"only loopback addresses may be tested (127.0.0.1 or ::1), got {host!r}")
    return socket.AF_INET6 if ip.version == 6 else socket.AF_INET


def parse_address(text: str) -> Address:
    """Parse ``HOST:PORT`` or ``[HOST]:PORT`` (the readiness-line and ``--connect`` format)."""
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise HarnessError(f"expected HOST:PORT with a port from 1 to 65535, got {text!r}")
    family_of(host)
    return host, int(port)


def format_address(address: Address) -> str:
    """``HOST:PORT``, with brackets around IPv6 hosts."""
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def free_port(host: str = "127.0.0.1", transport: str = "tcp") -> int:
    """A ``transport`` ("tcp" or "udp") port that was free a moment ago. Racy by nature: prefer ``--port 0``
    or ``--listen-fd``."""
    with socket.socket(family_of(host), socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def refused_address(host: str = "127.0.0.1") -> Iterator[Address]:
    """An address that refuses connections at once for as long as the block runs.

    The port is bound but never listened on, so no other program can take it meanwhile, and a connect
    to it is answered with RST (``ConnectionRefusedError``) without any timeout.
    """
    sock = socket.socket(family_of(host), socket.SOCK_STREAM)
    try:
        sock.bind((host, 0))
        yield host, sock.getsockname()[1]
    finally:
        sock.close()


def connect(address: Address, timeout: float) -> socket.socket:
    """A connected blocking socket with TCP_NODELAY. Raises ``ConnectionRefusedError`` or ``TimeoutError``.

    A refused connection fails at once; a full backlog (SYNs dropped) fails after ``timeout`` seconds.
    """
    sock = socket.socket(family_of(address[0]), socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except BaseException:
        sock.close()
        raise
    return sock


#: when Linux retransmits an unanswered SYN, in seconds after the first one: the initial retransmission timeout
#: is 1 s (RFC 6298 section 2.1, ``TCP_TIMEOUT_INIT``) and doubles after each try; ``tcp_syn_retries`` (6 by
#: default) bounds the count. A client whose SYN met a full listen backlog is answered at one of these moments.
SYN_RETRIES = (1.0, 3.0, 7.0, 15.0, 31.0, 63.0)

_TCP_INFO = struct.Struct("8B5I")  #: the head of Linux's struct tcp_info, up to tcpi_unacked
_TCP_SYN_SENT = 2  #: tcpi_state of a connect still waiting for its SYN to be answered


def retrying_in(sock: socket.socket) -> float | None:
    """Seconds within which the kernel will retransmit what ``sock`` still waits for its peer to take: a SYN
    not answered yet (the server's listen backlog was full, so its kernel dropped it) or data not acknowledged
    (the server's kernel dropped the handshake's last ACK for the same reason, so it has no socket for us yet).
    None when nothing is waiting for a retransmission, or where ``TCP_INFO`` cannot be read (not Linux).

    On loopback a live peer acknowledges at once, so anything still unacknowledged is TCP retrying on its own
    schedule: a wait for it is bounded by the kernel's timer, not by a guess."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO.size)
    except (OSError, AttributeError):
        return None
    if len(info) < _TCP_INFO.size:
        return None
    fields = _TCP_INFO.unpack_from(info)
    state, rto_us, unacked = fields[0], fields[8], fields[12]
    if state != _TCP_SYN_SENT and not unacked:
        return None
    return max(0.001, float(rto_us) / 1e6)


def connect_nowait(address: Address) -> socket.socket:
    """A non-blocking socket whose connect to ``address`` has been started, not finished (TCP_NODELAY set):
    :func:`harness.wire.drive` waits for it, and TCP retries its SYN if the server's backlog is full.
    A connect that fails at once raises (``ConnectionRefusedError``...)."""
    sock = socket.socket(family_of(address[0]), socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = sock.connect_ex(address)
        if code not in (0, errno.EINPROGRESS):
            raise OSError(code, os.strerror(code))
    except BaseException:
        sock.close()
        raise
    return sock


def reset(sock: socket.socket) -> None:
    """Abort the connection: SO_LINGER (1, 0) then close, so the peer receives RST instead of FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def can_bind(address: Address) -> str | None:
    """None if a new listener (with SO_REUSEADDR) can bind ``address`` now, else the reason it cannot."""
    with socket.socket(family_of(address[0]), socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
            sock.listen(1)
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def make_listener(host: str, port: int = 0, transport: str = "tcp") -> socket.socket:
    """A listening socket (``transport="udp"``: a bound datagram socket) on ``host:port`` with SO_REUSEADDR,
    for handing to a server with ``--listen-fd``."""
    udp = transport == "udp"
    sock = socket.socket(family_of(host), socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        if not udp:
            sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise HarnessError(f"cannot listen on {format_address((host, port))}: {exc.strerror}") from None
    return sock
