"""Standalone replay snippets: what a failing check prints so a person can rerun the failure by hand.

A snippet needs nothing but the standard library and the server running at the address it names.
"""

from __future__ import annotations

from collections.abc import Sequence

from .net import Address
from .strategies import PayloadSpec
from .wire import MAX_PAUSED_WRITES, Schedule

_HEADER = """\
# Replays the failing input against the server (standard library only).
import random, socket, threading, time

ADDRESS = {address!r}


def client(name, payload, chunks, pauses, recv_sizes, half_close, stall):
    sock = socket.create_connection(ADDRESS, timeout=10)

    def write():
        pos = i = 0
        try:
            while pos < len(payload):
                if i < {max_paused}:
                    time.sleep(pauses[i % len(pauses)])
                size = chunks[i % len(chunks)]
                sock.sendall(payload[pos : pos + size])
                pos, i = pos + size, i + 1
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            print(name, f"writing stopped after {{pos}} B: {{exc}}")

    threading.Thread(target=write, daemon=True).start()
    time.sleep(stall)  # a stalled reader
    got, i, end = bytearray(), 0, "FIN"
    while half_close or len(got) < len(payload):
        try:
            data = sock.recv(recv_sizes[i % len(recv_sizes)])
        except OSError as exc:  # a reset (RST) or a timeout
            data, end = b"", repr(exc)
        i += 1
        if not data:
            break
        got += data
    if got != payload:
        first = next((n for n, (a, b) in enumerate(zip(payload, got)) if a != b), min(len(payload), len(got)))
        print(name, f"connection ended with {{end}}; first difference at byte {{first}}")
    print(name, "echo ok" if got == payload else f"MISMATCH: sent {{len(payload)}} B, got {{len(got)}} B")


"""


def snippet(address: Address, spec: PayloadSpec, schedule: Schedule) -> str:
    """Python code replaying ``schedule`` (whose payload ``spec`` builds) against ``address``."""
    return concurrent_snippet(address, [(spec, schedule)])


def concurrent_snippet(address: Address, clients: Sequence[tuple[PayloadSpec, Schedule]]) -> str:
    """Python code running every ``(spec, schedule)`` client at once against ``address``."""
    lines = ["threads = ["]
    for n, (spec, sch) in enumerate(clients):
        args = (
            f"{spec.code()}, {sch.chunk_sizes!r}, {sch.pauses!r}, {sch.recv_sizes!r}, "
            f"{sch.half_close!r}, {sch.stall_reader * 3:g}"
        )
        lines.append(f"    threading.Thread(target=client, args=('client {n}', {args})),")
    lines += ["]", "for t in threads:", "    t.start()", "for t in threads:", "    t.join()", ""]
    return _HEADER.format(address=address, max_paused=MAX_PAUSED_WRITES) + "\n".join(lines)


def conversation_snippet(address: Address, specs: Sequence[PayloadSpec], recv_size: int) -> str:
    """Python code sending each message and waiting for its echo before the next."""
    messages = ",\n    ".join(spec.code() for spec in specs)
    return f"""\
# Replays the failing conversation: each message must come back before the next is sent.
import random, socket

sock = socket.create_connection({address!r}, timeout=10)
for n, message in enumerate([
    {messages},
]):
    sock.sendall(message)
    got = bytearray()
    while len(got) < len(message):
        data = sock.recv({recv_size})
        if not data:
            break
        got += data
    print(n, "echo ok" if got == message else f"MISMATCH: sent {{len(message)}} B, got {{len(got)}} B")
"""
