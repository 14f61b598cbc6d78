"""Latency check: small interactive round trips are not stalled by Nagle's algorithm and delayed ACKs."""

from __future__ import annotations

import statistics

from .. import connrepro
from ..errors import ServerFault, ServerWarning
from ..net import connect
from ..reproduce import replayed_by
from ..targets import Target
from ..wire import converse, echo_mismatch
from .base import CheckOptions, Verdict, check

ROUND_TRIPS = 20
STALL_MS = 20.0


@check(
    "latency.nagle",
    f"small round trips take well under {STALL_MS:g} ms (no Nagle/delayed-ACK stalls)",
    severity=Verdict.WARN,
)
@replayed_by(lambda target, options: connrepro.nagle_snippet(target.address, ROUND_TRIPS, STALL_MS))
def nagle(target: Target, options: CheckOptions) -> str:
    sock = connect(target.address, options.timeout)
    try:
        message = b"ping\n"
        results = converse(sock, [message] * ROUND_TRIPS, 65536, options.timeout, options.idle)
    finally:
        sock.close()
    for ex in results:
        problem = echo_mismatch(message, ex)
        if problem:
            raise ServerFault(f"interactive echo failed: {problem}")
    median = statistics.median(ex.elapsed for ex in results) * 1000
    if median > STALL_MS:
        raise ServerWarning(
            f"median round trip {median:.1f} ms over {ROUND_TRIPS} small messages: the server answers in several "
            "small writes that Nagle's algorithm holds back until the peer's delayed ACK; set TCP_NODELAY or "
            "write each reply at once"
        )
    return f"median round trip {median:.2f} ms"
