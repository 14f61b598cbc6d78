"""Reproducers of the connection checks (``conn.*``, ``latency.nagle``): each replays the check's scenario
against an echo server and judges it by the check's rule (see :mod:`harness.reproduce` for the conventions).

The checks that judge descriptors (``conn.storm``, ``conn.fd-growth``) count the server's from ``/proc``: the
script finds the process holding the port (or takes ``$PID``) and exits 2 when it cannot.
"""

from __future__ import annotations

from .net import Address
from .reproduce import ECHO_CLIENT, SERVER_PIDS, script

DESCRIPTORS_BACK = """

def descriptors_back(pid, before, what):
    \"\"\"None once the server holds at most ``before`` + 2 descriptors (waiting up to 2 x IDLE s), else the leak.\"\"\"
    deadline = time.monotonic() + IDLE * 2
    while True:
        count = fd_count(pid)
        if count is not None and count <= before + 2:
            return None
        if time.monotonic() >= deadline:
            return (f"descriptor leak: the server held {before} descriptors before {what} and {count} after them "
                    f"(+{(count or 0) - before}): connections are not closed")
        time.sleep(0.01)
"""


def idle_snippet(address: Address, count: int, wait: float) -> str:
    """``conn.idle``: ``count`` idle connections (every other one stopped mid-message), then a new client must get
    its whole echo within ``wait`` s."""
    body = f"""\
def scenario():
    idlers = [connect(timeout={wait:g}) for _ in range({count})]
    try:
        for sock in idlers[::2]:
            sock.sendall(b"partial message, then silence")
        payload = b"hello from a new client\\n" * 40
        sock = connect(timeout={wait:g})
        got, end, _ = exchange(payload, half_close=True, sock=sock)
        problem = mismatch(payload, got, end)
        if problem:
            return f"with {{len(idlers)}} idle connections open, a new client got no complete echo: {{problem}}"
        return None
    finally:
        for sock in idlers:
            sock.close()


repeat(scenario, 1, "a new client was served beside {count} idle connections")
"""
    return script(address, "Replays a new client beside idle connections.", body, blocks=[ECHO_CLIENT], idle=wait)


def reset_snippet(address: Address) -> str:
    """``conn.reset``: a client fills its connection with echo unread and resets it; a bystander and then a new
    client must be served."""
    body = """\
def fill_until_blocked(sock, limit=32 << 20, quiet=0.2):
    \"\"\"Write without reading until the socket stays unwritable for ``quiet`` s; the bytes written.\"\"\"
    sock.setblocking(False)
    sent, chunk = 0, bytes(65536)
    while sent < limit and select.select([], [sock], [], quiet)[1]:
        try:
            sent += sock.send(chunk)
        except BlockingIOError:
            continue
        except OSError:
            break
    sock.setblocking(True)
    return sent


def scenario():
    victim = connect()
    pending = fill_until_blocked(victim)
    bystander = connect()
    try:
        first, second = b"bystander, before the reset\\n" * 10, b"bystander, after the reset\\n" * 10
        bystander.sendall(first)
        abort(victim)
        got, end, _ = exchange(second, sock=bystander, expect=len(first + second))
        if bytes(got) != first + second or end != "FIN":
            return (f"after another client reset its connection with {pending} B unread, a bystander got "
                    f"{len(got)} of {len(first + second)} B back, then {end}")
    finally:
        bystander.close()
    try:
        problem = echo_client(b"a new client after a client reset\\n")
    except ConnectionRefusedError:
        problem = "connection refused (did the server die?)"
    return f"after a client reset, a new client was not served: {problem}" if problem else None


repeat(scenario, 1, "a reset left the bystander and a new client unharmed")
"""
    return script(address, "Replays a client that resets with echo pending.", body, blocks=[ECHO_CLIENT])


def burst_snippet(address: Address, count: int, sequential: bool = False) -> str:
    """``conn.burst``: ``count`` connects at once, all held open; each client must get its echo, then FIN."""
    body = f"""\
COUNT, SEQUENTIAL = {count}, {sequential!r}


def scenario():
    socks = []
    try:
        for _ in range(COUNT):
            sock = socket.socket(FAMILY, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.connect_ex(ADDRESS)
            socks.append(sock)
        deadline, waiting = time.monotonic() + TIMEOUT, list(socks)
        while waiting and time.monotonic() < deadline:
            for sock in select.select([], waiting, [], max(0.0, deadline - time.monotonic()))[1]:
                waiting.remove(sock)
                error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if error:
                    return f"a connect of a burst of {{COUNT}} failed: {{os.strerror(error)}}"
        if waiting:
            return f"{{len(waiting)}} of a burst of {{COUNT}} connects got no answer in {{TIMEOUT:g}} s"
        for sock in socks:
            sock.setblocking(True)
        payloads = [f"burst client {{n}}\\n".encode() * 4 for n in range(COUNT)]
        problems = [None] * COUNT

        def run(n):  # every client gets its echo while all stay open (a sequential server: in turn)
            problems[n] = echo_client(payloads[n], half_close=SEQUENTIAL, sock=socks[n], close=False)

        threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(COUNT)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT * 2)
        unserved = [n for n, p in enumerate(problems) if p]
        if unserved:
            first = unserved[0]
            return (f"only {{COUNT - len(unserved)}} of {{COUNT}} clients connected at once were served; "
                    f"client {{first}}: {{problems[first]}}")
        for n, sock in enumerate(socks if not SEQUENTIAL else ()):  # then all half-close and must see FIN
            sock.shutdown(socket.SHUT_WR)
            data, end = receive(sock, 65536)
            if data or end != "FIN":
                return f"client {{n}} of {{COUNT}}: no FIN after the echo ({{end or 'more bytes'}})"
    finally:
        for sock in socks:
            sock.close()
    return None


repeat(scenario, 1, f"{{COUNT}} clients connected at once were all served")
"""
    return script(address, "Replays a burst of simultaneous connections.", body, blocks=[ECHO_CLIENT])


def slowloris_snippet(address: Address, tricklers: int, pause: float) -> str:
    """``conn.slowloris``: ``tricklers`` clients send one byte every ``pause`` s; new clients must be served
    before they finish, and the tricklers must get their echo."""
    body = f"""\
TRICKLERS, PAUSE, TRICKLE = {tricklers}, {pause!r}, b"slowly, bytewise"


def scenario():
    socks = [connect() for _ in range(TRICKLERS)]
    results = [None] * TRICKLERS
    started = time.monotonic()
    last_byte = started + PAUSE * (len(TRICKLE) - 1)

    def trickle(n):
        results[n] = echo_client(TRICKLE, chunks=(1,), pauses=(PAUSE,), sock=socks[n])

    threads = [threading.Thread(target=trickle, args=(n,), daemon=True) for n in range(TRICKLERS)]
    for t in threads:
        t.start()
    try:
        for n in range(3):
            probe = f"new client {{n}} while others trickle\\n".encode()
            window = max(0.05, last_byte - time.monotonic())
            sock = connect(timeout=window)
            got, end = bytearray(), None
            sock.sendall(probe)
            while len(got) < len(probe):
                data, end = receive(sock, 65536, max(0.01, last_byte + 0.05 - time.monotonic()))
                if not data:
                    break
                got += data
            sock.close()
            if mismatch(probe, got, end):
                took = time.monotonic() - started
                return (f"while {{TRICKLERS}} clients trickled single bytes, new client {{n + 1}} was not served "
                        f"before they finished ({{took:.1f}} s in): {{mismatch(probe, got, end)}}")
    finally:
        for t in threads:
            t.join(TIMEOUT * 2)
    broken = [n for n, p in enumerate(results) if p]
    if broken:
        first = results[broken[0]]
        return f"{{len(broken)}} of {{TRICKLERS}} trickling clients did not get their echo; the first: {{first}}"
    return None


repeat(scenario, 1, "new clients were served while others trickled, and the tricklers got their echo")
"""
    return script(address, "Replays slowloris-style trickling clients.", body, blocks=[ECHO_CLIENT])


def storm_snippet(address: Address, cycles: int) -> str:
    """``conn.storm``: ``cycles`` connect/echo/close cycles, each echoed exactly, then FIN; then the server's
    descriptors must return to their count before the storm."""
    body = f"""\
CYCLES = {cycles}


def scenario():
    pid = the_server()
    before = fd_count(pid)
    if before is None:
        raise CannotJudge(f"cannot count the descriptors of process {{pid}}")
    for cycle in range(CYCLES):
        try:
            problem = echo_client(b"storm\\n")
        except OSError as exc:
            problem = f"connect failed: {{exc!r}}"
        if problem:
            return f"cycle {{cycle + 1}} of {{CYCLES}}: {{problem}}"
    return descriptors_back(pid, before, f"{{CYCLES}} connections")


repeat(scenario, 1, f"{{CYCLES}} connect/echo/close cycles echoed, and the descriptors came back")
"""
    blocks = [ECHO_CLIENT, SERVER_PIDS, DESCRIPTORS_BACK]
    return script(address, "Replays a storm of short connections.", body, blocks=blocks)


def fd_growth_snippet(address: Address, batch: int = 16, total: int = 48) -> str:
    """``conn.fd-growth``: ``total`` connections in batches of ``batch``, ended by reset, by a close with echo
    unread, or cleanly; the server's descriptors must return to their count before."""
    body = f"""\
BATCH, TOTAL, PAYLOAD = {batch}, {total}, b"descriptor check\\n" * 64


def scenario():
    pid = the_server()
    before = fd_count(pid)
    if before is None:
        raise CannotJudge(f"cannot count the descriptors of process {{pid}}")
    for first in range(0, TOTAL, BATCH):
        socks = [connect() for _ in range(BATCH)]
        for sock in socks:
            sock.sendall(PAYLOAD)
        for sock in socks:  # read each echo back
            got = bytearray()
            while len(got) < len(PAYLOAD):
                data, _ = receive(sock, 65536)
                if not data:
                    break
                got += data
        for n, sock in enumerate(socks, start=first):
            if n % 3 == 0:
                abort(sock)  # a reset
            elif n % 3 == 1:
                sock.sendall(PAYLOAD)  # a close with echo unread (RST)
                sock.close()
            else:
                sock.shutdown(socket.SHUT_WR)  # a clean close: wait for the server's FIN (or a byte more: enough)
                receive(sock, 65536)
                sock.close()
    return descriptors_back(pid, before, f"{{TOTAL}} connections ended by reset, unread close or close")


repeat(scenario, 1, "connections ended in any way gave back their descriptors")
"""
    blocks = [ECHO_CLIENT, SERVER_PIDS, DESCRIPTORS_BACK]
    return script(address, "Replays connections that end in every way.", body, blocks=blocks)


def nagle_snippet(address: Address, round_trips: int, stall_ms: float) -> str:
    """``latency.nagle`` (a warning): ``round_trips`` small round trips on one connection; exit 1 when their
    median exceeds ``stall_ms`` ms (a Nagle/delayed-ACK stall)."""
    body = f"""\
import statistics

ROUND_TRIPS, STALL_MS, PING = {round_trips}, {stall_ms!r}, b"ping\\n"


def scenario():
    sock, times = connect(), []
    try:
        for _ in range(ROUND_TRIPS):
            start, got, end = time.monotonic(), bytearray(), None
            sock.sendall(PING)
            while len(got) < 5:
                data, end = receive(sock, 65536)
                if not data:
                    break
                got += data
            if mismatch(PING, got, end):
                return f"interactive echo failed: {{mismatch(PING, got, end)}}"
            times.append(time.monotonic() - start)
    finally:
        sock.close()
    median = statistics.median(times) * 1000
    if median > STALL_MS:
        return (f"median round trip {{median:.1f}} ms over {{ROUND_TRIPS}} small messages: the server answers in "
                "several small writes that Nagle's algorithm holds back until the peer's delayed ACK")
    return None


repeat(scenario, 1, f"small round trips took well under {{STALL_MS:g}} ms")
"""
    return script(address, "Replays small interactive round trips.", body, blocks=[ECHO_CLIENT])


def together_snippet(address: Address, count: int) -> str:
    """``conn.concurrency``'s forced interleaving: ``count`` clients are each served once, then the server is
    paused (SIGSTOP, to the process found holding the port, or ``$PID``) while each sends a message, so all
    arrive at it together; each must get back its own message only."""
    body = f"""\
import signal

COUNT = {count}
MESSAGES = [bytes([65 + n]) * 8 + f" client {{n}}: arriving with the others\\n".encode() * 8 for n in range(COUNT)]
PIDS = server_pids()  # paused while the messages are sent, as the harness paused the server


def scenario():
    socks = [connect() for _ in range(COUNT)]
    try:
        for n, sock in enumerate(socks):
            hello = bytes([65 + n]) * 8 + b" hello\\n"
            sock.sendall(hello)
            got, end = bytearray(), None
            while len(got) < len(hello):
                data, end = receive(sock, 65536)
                if not data:
                    break
                got += data
            if mismatch(hello, got, end):
                return f"client {{n}} of {{COUNT}}, served alone first: {{mismatch(hello, got, end)}}"
        for pid in PIDS:
            os.kill(pid, signal.SIGSTOP)
        try:
            for sock, message in zip(socks, MESSAGES):
                sock.sendall(message)
        finally:
            for pid in PIDS:
                os.kill(pid, signal.SIGCONT)
        for n, (sock, message) in enumerate(zip(socks, MESSAGES)):
            # half-close, then read the echo (not a byte more) until FIN
            got, end, _ = exchange(b"", sock=sock, close=False, expect=len(message))
            problem = mismatch(message, got, end)
            if problem:
                crossed = any(bytes([65 + m]) * 8 in got for m in range(COUNT) if m != n)
                return (f"client {{n}} of {{COUNT}}, whose message reached the server together with the others': "
                        + ("cross-talk: another client's bytes arrived on this connection; " if crossed else "")
                        + problem)
    finally:
        for sock in socks:
            sock.close()
    return None


paused = "" if PIDS else " (the server was not paused: its process was not found; set PID=)"
repeat(scenario, 10, "each client got back its own message only" + paused)
"""
    blocks = [ECHO_CLIENT, SERVER_PIDS]
    return script(address, "Replays messages that reach the server together.", body, blocks=blocks)


def talker_snippet(address: Address, talker: tuple[bytes, ...], leaver: bytes) -> str:
    """``conn.concurrency``'s first forced interleaving, each step waiting for the echo before it: client A is
    served ``talker[0]``; client B has a whole exchange (``leaver``) and half-closes; A must still be served
    the rest of ``talker``, then FIN."""
    body = f"""\
TALKER, LEAVER = {talker!r}, {leaver!r}


def echo(sock, message):
    sock.sendall(message)
    got, end = bytearray(), None
    while len(got) < len(message):
        data, end = receive(sock, 65536)
        if not data:
            break
        got += data
    return mismatch(message, got, end)


def scenario():
    a = connect()
    try:
        problem = echo(a, TALKER[0])
        if problem:
            return f"client A, alone: {{problem}}"
        problem = echo_client(LEAVER)
        if problem:
            return f"client B, while client A was connected: {{problem}}"
        for n, message in enumerate(TALKER[1:], start=2):
            problem = echo(a, message)
            if problem:
                return (f"client A was cut off after client B ended its own connection: message {{n}} of "
                        f"{{len(TALKER)}} ({{problem}}); connections share state they should not (a global flag?)")
        got, end, _ = exchange(b"", sock=a, close=False)
        return None if end == "FIN" and not got else f"client A: no FIN at the end ({{end or 'more bytes'}})"
    finally:
        a.close()


repeat(scenario, 1, "client A was still served after client B left")
"""
    return script(address, "Replays a client that ends while another talks.", body, blocks=[ECHO_CLIENT])
