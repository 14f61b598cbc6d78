"""The verdict policy where TCP itself is involved, and a server that dies mid-run.

- A listen backlog too small for a burst delays clients (the kernel drops their SYN or final ACK and TCP
  retries it); it loses nothing: ``conn.burst`` warns, with the backlog, and never fails such a server.
- The wire client tells a connection TCP is still retrying from a hung one.
- A server that dies during a check fails that check, once, saying so; the checks after it judge the server
  started again.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from socket_harness import CheckOptions, SubprocessTarget, Verdict, check_target
from socket_harness.net import connect, retrying_in
from socket_harness.runner import select
from socket_harness.waiting import poll_until

HERE = Path(__file__).parent
OPTIONS = CheckOptions(examples=5, timeout=5.0, idle=1.0, grace=2.0, shrink_seconds=2.0)
#: socketserver with every default: request_queue_size = 5
SMALL_BACKLOG = """
import socketserver, sys
class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(65536):
            self.request.sendall(data)
socketserver.ThreadingTCPServer(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
"""


def test_a_burst_against_a_small_backlog_is_a_warning_that_names_the_backlog(tmp_path: Path) -> None:
    script = tmp_path / "small_backlog.py"
    script.write_text(SMALL_BACKLOG)
    target = SubprocessTarget([sys.executable, str(script), "{port}"], grace=2.0)
    result = check_target(target, OPTIONS, select(["conn.burst"])).results[-1]
    assert result.verdict is Verdict.WARN, result.message
    assert "listen backlog of 5 is smaller than a burst" in result.message, result.message
    assert "no byte of an accepted one is lost" in result.message, result.message


def test_a_connect_that_tcp_is_retrying_is_told_apart_from_an_answered_one() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)  # never accepted: the queue holds one connection, the kernel drops later SYNs
        address = listener.getsockname()
        queued = connect(address, 2.0)
        queued.sendall(b"taken by the kernel")
        assert poll_until(lambda: retrying_in(queued) is None, 2.0), "acknowledged data is not a retry"
        waiting = [socket.socket() for _ in range(3)]
        for sock in waiting:
            sock.setblocking(False)
            sock.connect_ex(address)
        try:
            retrying = [retrying_in(sock) for sock in waiting]
            assert any(r is not None and 0 < r <= 64 for r in retrying), retrying
        finally:
            queued.close()
            for sock in waiting:
                sock.close()


def test_a_server_that_dies_during_a_check_fails_that_check_once_and_is_started_again() -> None:
    target = SubprocessTarget([sys.executable, str(HERE / "broken" / "dies_on_reset.py"), "{port}"], grace=2.0)
    report = check_target(target, OPTIONS, select(["conn.reset", "echo.fidelity", "lifecycle.sigterm"]))
    verdicts = {r.id: r for r in report.results}
    died = verdicts["conn.reset"]
    assert died.verdict is Verdict.FAIL and "the server died during conn.reset" in died.message, died.message
    assert "started again for the checks that follow" in died.message, died.message
    assert verdicts["echo.fidelity"].verdict is Verdict.PASS, verdicts["echo.fidelity"].message
    assert verdicts["lifecycle.sigterm"].verdict is Verdict.PASS, verdicts["lifecycle.sigterm"].message
