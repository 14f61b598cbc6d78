"""``fuzz.faults``: echo exchanges through the fault-injecting proxy, with the faults chosen by Hypothesis.

Each example sends a payload through a :class:`~harness.proxy.FaultProxy` that slices it into segments,
leaves gaps of up to 300 ms, adds latency, throttles, or cuts the connection after N bytes, while a bystander
talks to the server directly. Whatever the faults, every byte that reached the server comes back in order
(all of it, then FIN, unless the connection was cut), the bystander is undisturbed, and the server keeps
serving. A failure shrinks to the smallest payload and the fewest faults that still trigger it.
"""

from __future__ import annotations

import dataclasses

from hypothesis import strategies as st

from .. import reproduce
from ..errors import ServerFault
from ..net import Address, connect
from ..proxy import CUTS, FaultProxy, Faults
from ..strategies import KiB, PayloadSpec, payload_specs
from ..targets import Target
from ..wire import Exchange, Schedule, drive, echo_mismatch, exchange
from .base import CheckOptions, check, examples_for, falsify
from .connections import require_new_client_served

MAX_PAYLOAD = 16 * KiB
LONG_GAP = 0.3  #: longer than any "wait a moment for the rest of the message" a server should not rely on
BYSTANDER = b"a bystander, half before the faulted exchange and half after it\n"


@st.composite
def fault_sets(draw: st.DrawFn, max_cut: int = MAX_PAYLOAD) -> Faults:
    """Faults for one exchange; every part shrinks towards "no fault" (no segmenting, no gap, no cut)."""
    segments = tuple(draw(st.lists(st.sampled_from([1460, 100, 3, 1]), max_size=2)))
    gaps = tuple(draw(st.lists(st.sampled_from([0.0, 0.001, 0.02, LONG_GAP]), min_size=1, max_size=3)))
    latency = draw(st.sampled_from([0.0, 0.005, 0.05]))
    rate = draw(st.none() | st.sampled_from([1_000_000, 250_000]))
    cut = draw(st.none() | st.sampled_from(CUTS))
    cut_after = draw(st.integers(0, max_cut)) if cut else 0
    return Faults(segments, gaps, latency, rate, cut, cut_after)


def judge(payload: bytes, faults: Faults, ex: Exchange) -> str | None:
    """None if ``ex`` is what a correct server gives through ``faults``, else what is wrong.

    Uncut (or cut beyond the payload): the whole echo, then FIN. Cut by ``close``: the echo of the bytes
    that got through, then FIN. Cut by ``reset`` or ``vanish``: a prefix of the bytes that got through.
    """
    if faults.cut is None or faults.cut_after > len(payload):
        problem = echo_mismatch(payload, ex)
        if problem is None and not ex.eof:
            problem = f"all {len(payload)} B came back, but then: {ex.outcome()} instead of FIN"
        return problem
    through = payload[: faults.cut_after]
    if faults.cut == "close":
        problem = echo_mismatch(through, ex)
        if problem is None and not ex.eof:
            problem = f"the {len(through)} B that got through came back, but then: {ex.outcome()} instead of FIN"
        return problem
    got = bytes(ex.received)
    if got != through[: len(got)]:
        return f"the echo is not a prefix of the {len(through)} B that got through: {echo_mismatch(through, ex)}"
    return None


@check(
    "fuzz.faults",
    "through a proxy that slices, delays (gaps up to 300 ms), throttles and cuts the stream, every byte that "
    "reaches the server comes back, a cut never disturbs another connection, and the server keeps serving",
    weight=0.5,  # each example waits out its gaps (up to 300 ms): half the examples keep a check under 2 s
)
def faults(target: Target, options: CheckOptions) -> str:
    def body(value: tuple[PayloadSpec, Faults, int]) -> None:
        spec, chosen, recv_size = value
        payload = spec.build()
        where = f"[through the proxy: {chosen.describe()}; {len(payload)} B, recv({recv_size})]"
        half = len(BYSTANDER) // 2
        # a sequential server serves one client at a time: a bystander would hold it
        bystander = None if target.sequential else connect(target.address, options.timeout)
        try:
            if bystander is not None:
                drive([bystander], [Schedule(BYSTANDER[:half], half_close=False)], options.timeout, options.idle)
            with FaultProxy(target.address, chosen, options.timeout) as proxy:
                schedule = Schedule(payload, recv_sizes=(recv_size,), half_close=True)
                ex = exchange(proxy.address, schedule, options.timeout, options.idle + chosen.latency * 2)
            problem = judge(payload, chosen, ex)
            if problem is None and proxy.errors:
                problem = f"the proxy could not relay: {proxy.errors[0]}"
            if problem is not None:
                if not target.alive():
                    problem += "; the server is no longer running"
                raise ServerFault(f"{problem} {where}")
            if bystander is not None:
                rest = BYSTANDER[half:]
                late = drive([bystander], [Schedule(rest, half_close=True)], options.timeout, options.idle)[0]
                problem = echo_mismatch(rest, late) or (None if late.eof else f"no FIN: {late.outcome()}")
                if problem is not None:
                    raise ServerFault(f"a direct client, open meanwhile, was disturbed: {problem} {where}")
        finally:
            if bystander is not None:
                bystander.close()
        require_new_client_served(target.address, options, f"an exchange through the proxy {where}")

    strategy = st.tuples(payload_specs(max_size=MAX_PAYLOAD), fault_sets(), st.sampled_from([65536, 1, 1000]))
    n = falsify(
        strategy,
        body,
        examples=examples_for("fuzz.faults", options),
        options=options,
        reproduce=lambda value, fault: replay(target.address, *value, sequential=target.sequential),
        key="fuzz.faults",
    )
    return f"{n} exchanges through the fault proxy"


def replay(address: Address, spec: PayloadSpec, chosen: Faults, recv_size: int, *, sequential: bool = False) -> str:
    """A reproducer of one faulted exchange, carrying its own proxy (standard library only): exit 1 unless every
    byte that got through comes back as :func:`judge` requires, a direct bystander is undisturbed (not with a
    ``sequential`` server) and a new client is served afterwards."""
    faults = ", ".join(f"{name}={value!r}" for name, value in dataclasses.asdict(chosen).items())
    body = f"""\
PAYLOAD = {spec.code()}
FAULTS = dict({faults})
RECV_SIZE, SEQUENTIAL = {recv_size}, {sequential!r}
BYSTANDER = {BYSTANDER!r}
WHERE = "[through the proxy: {chosen.describe()}; {len(spec.build())} B, recv({recv_size})]"


def judge(got, end):
    \"\"\"As the harness judges it: uncut (or cut beyond the payload), the whole echo then FIN; cut by close, the
    echo of what got through then FIN; cut by reset or vanish, a prefix of what got through.\"\"\"
    cut, after = FAULTS["cut"], FAULTS["cut_after"]
    wanted = PAYLOAD if cut is None or after > len(PAYLOAD) else PAYLOAD[:after]
    if cut is None or after > len(PAYLOAD) or cut == "close":
        problem = mismatch(wanted, got, end)
        return problem or (None if end == "FIN" else f"all {{len(wanted)}} B came back, then {{end}} instead of FIN")
    if bytes(got) != wanted[:len(got)]:
        return f"the echo is not a prefix of the {{len(wanted)}} B that got through: {{mismatch(wanted, got, end)}}"
    return None


def scenario():
    half = len(BYSTANDER) // 2
    bystander = None if SEQUENTIAL else connect()  # a client talking to the server directly meanwhile
    try:
        if bystander is not None:
            bystander.sendall(BYSTANDER[:half])
            got, end = bytearray(), None
            while len(got) < half:
                data, end = receive(bystander, 65536)
                if not data:
                    break
                got += data
            if mismatch(BYSTANDER[:half], got, end):
                return f"a direct client: {{mismatch(BYSTANDER[:half], got, end)}}"
        proxy = Proxy(ADDRESS, **FAULTS)
        try:
            got, end, _ = exchange(PAYLOAD, recv_sizes=(RECV_SIZE,), half_close=True, sock=connect(proxy.address))
        finally:
            proxy.close()
        problem = judge(got, end)
        if problem:
            return f"{{problem}} {{WHERE}}"
        if bystander is not None:
            problem = echo_client(BYSTANDER[half:], sock=bystander)
            if problem:
                return f"a direct client, open meanwhile, was disturbed: {{problem}} {{WHERE}}"
    finally:
        if bystander is not None:
            bystander.close()
    try:
        problem = echo_client(b"a new client after an exchange through the proxy\\n")
    except ConnectionRefusedError:
        problem = "connection refused (did the server crash?)"
    return f"after the exchange through the proxy, a new client was not served: {{problem}}" if problem else None


repeat(scenario, 2, "every byte that got through came back, and the server kept serving " + WHERE)
"""
    blocks = [reproduce.ECHO_CLIENT, reproduce.PROXY]
    return reproduce.script(address, "Replays the failing exchange through a faulty network.", body, blocks=blocks)
