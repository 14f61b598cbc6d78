"""The kernel's own view of a listening socket (Linux ``sock_diag`` netlink, what ``ss -lt`` shows).

``/proc/net/tcp`` gives a listener's queue length but not its backlog; the netlink interface gives both.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST_DUMP = 0x301
_NLMSG_DONE = 3
_TCP_LISTEN = 10
_HEADER = struct.Struct("=IHHII")  #: struct nlmsghdr
_MESSAGE = struct.Struct("=BBBB2H16s16sI8sIIIII")  #: struct inet_diag_msg


@dataclass(frozen=True)
class Listener:
    """One TCP listening socket: its accept queue now and the most it may hold (the ``listen()`` backlog)."""

    address: str
    queued: int  #: connections accepted by the kernel, waiting for the server's accept()
    backlog: int  #: the backlog the server asked for (capped by net.core.somaxconn)
    inode: int


def listeners(port: int) -> list[Listener] | None:
    """Every TCP socket listening on ``port`` (IPv4 and IPv6), or None where the kernel cannot be asked."""
    found: list[Listener] = []
    for family in (socket.AF_INET, socket.AF_INET6):
        got = _dump(family, port)
        if got is None:
            return None
        found += got
    return found


def _dump(family: int, port: int) -> list[Listener] | None:
    request = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 1 << _TCP_LISTEN)
    request += struct.pack("!HH", port, 0) + bytes(32) + struct.pack("=III", 0, 0xFFFFFFFF, 0xFFFFFFFF)
    header = _HEADER.pack(_HEADER.size + len(request), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST_DUMP, 1, 0)
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG)
    except (OSError, AttributeError):
        return None
    found: list[Listener] = []
    with sock:
        sock.settimeout(1.0)
        try:
            sock.sendall(header + request)
            while True:
                data = sock.recv(65536)
                offset = 0
                while offset + _HEADER.size <= len(data):
                    length, kind = _HEADER.unpack_from(data, offset)[:2]
                    if kind == _NLMSG_DONE or length < _HEADER.size:
                        return found
                    if kind == _SOCK_DIAG_BY_FAMILY and length >= _HEADER.size + _MESSAGE.size:
                        fields = _MESSAGE.unpack_from(data, offset + _HEADER.size)
                        sport, src = socket.ntohs(fields[4]), fields[6]
                        if sport == port:
                            raw = src[:4] if family == socket.AF_INET else src
                            found.append(Listener(socket.inet_ntop(family, raw), fields[11], fields[12], fields[14]))
                    elif kind == 2:  # NLMSG_ERROR
                        return None
                    offset += (length + 3) & ~3
                if not data:
                    return found
        except OSError:
            return None
