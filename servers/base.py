"""What every reference server shares: the listener, the stop signal, the accept loop and the command line.

Class map (in the style of :mod:`socketserver`)::

    EchoServer                 binds (or adopts) a listener; serve_forever / shutdown / context manager
     +-- SequentialEchoServer  one client at a time, the others wait in the backlog   (servers.sequential)
     +-- ThreadedEchoServer    a thread per connection, blocking I/O                   (servers.threaded)
     +-- SelectorEchoServer    one thread, non-blocking sockets and ``selectors``      (servers.selector)
     +-- UDPEchoServer         one thread, one datagram socket                         (servers.udp_echo)
    ThreadedEchoServer
     +-- FramedEchoServer      echoes 10-byte-length-prefixed frames, bounded          (servers.framed)
     +-- GreetingServer        sends a banner, then closes                             (servers.greeting)
     +-- HTTPFileServer        HTTP/1.0 GET/HEAD of the files under a root             (servers.http_file)

The servers of the other protocols reuse the threaded server's accept loop and shutdown; each overrides
only :meth:`ThreadedEchoServer.handle` (what one connection gets) and its own command-line options.

Shutdown is two-phase everywhere: :meth:`EchoServer.request_shutdown` only sets a flag and writes one byte to
a wake-up socket, so it is safe from a signal handler; the serving thread then stops accepting, lets the
connections in flight finish their echo for at most ``grace`` seconds, closes what is left and returns.
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType, TracebackType

DEFAULT_HOST = "127.0.0.1"
DEFAULT_GRACE = 5.0
DEFAULT_BACKLOG = 1024
SD_LISTEN_FDS_START = 3

# accept() errors that mean "this one connection is gone", not "the server is broken".
ACCEPT_TRANSIENT = frozenset({errno.ECONNABORTED, errno.EAGAIN, errno.EWOULDBLOCK, errno.EPROTO, errno.EINTR})
# accept() errors that mean "out of a resource": back off, never die.
ACCEPT_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
ACCEPT_BACKOFF = 0.05


class ServerSetupError(Exception):
    """The server cannot start (bad address, port in use, bad inherited socket); the message says why."""


def make_listener(
    host: str, port: int, backlog: int = DEFAULT_BACKLOG, socktype: socket.SocketKind = socket.SOCK_STREAM
) -> socket.socket:
    """Return a listening TCP socket (or, with ``socktype=SOCK_DGRAM``, a bound UDP socket) on ``host:port``
    with SO_REUSEADDR set.

    ``host`` may be an IPv4 or IPv6 literal or a name; the first address it resolves to is used.
    Raises :class:`ServerSetupError` with a one-line reason if the address cannot be bound.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socktype, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ServerSetupError(f"cannot resolve host {host!r}: {exc.strerror}") from None
    family, socktype, proto, _, sockaddr = infos[0]
    sock = socket.socket(family, socktype, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(sockaddr)
        if socktype == socket.SOCK_STREAM:
            sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise ServerSetupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def inherited_listener(socktype: socket.SocketKind = socket.SOCK_STREAM) -> socket.socket:
    """Adopt the listening socket (or bound UDP socket) passed as fd 3 by the systemd socket-activation protocol.

    Checks ``LISTEN_FDS`` (at least 1) and, when set, that ``LISTEN_PID`` names this process.
    Raises :class:`ServerSetupError` if no usable listening socket was handed over.
    """
    count = os.environ.get("LISTEN_FDS", "")
    pid = os.environ.get("LISTEN_PID", "")
    if not count.isdigit() or int(count) < 1:
        raise ServerSetupError("--listen-fd given but LISTEN_FDS is not set to 1 or more")
    if pid and pid != str(os.getpid()):
        raise ServerSetupError(f"--listen-fd: LISTEN_PID={pid} is not this process ({os.getpid()})")
    try:
        sock = socket.socket(fileno=SD_LISTEN_FDS_START)
    except OSError as exc:
        raise ServerSetupError(f"--listen-fd: fd {SD_LISTEN_FDS_START} is not a socket: {exc.strerror}") from None
    listening = socktype != socket.SOCK_STREAM or sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    if sock.type != socktype or not listening:
        sock.detach()
        kind = "a listening TCP" if socktype == socket.SOCK_STREAM else "a UDP"
        raise ServerSetupError(f"--listen-fd: fd {SD_LISTEN_FDS_START} is not {kind} socket")
    return sock


def format_address(address: tuple[str, int]) -> str:
    """``HOST:PORT`` as printed in the readiness line (IPv6 hosts are printed bare, e.g. ``::1:8080``)."""
    return f"{address[0]}:{address[1]}"


def close_quietly(sock: socket.socket) -> None:
    """Close ``sock``, ignoring the errors a peer's reset can cause."""
    try:
        sock.close()
    except OSError:
        pass


#: the ``recv`` flag "only what has already arrived, never wait" (Linux, the BSDs, macOS); 0 where it is missing
MSG_DONTWAIT: int = getattr(socket, "MSG_DONTWAIT", 0)


def recv_arrived(conn: socket.socket, limit: int) -> bytes:
    """At most ``limit`` bytes of what has arrived on ``conn``; ``b""`` once the peer has ended its stream.

    Waits for the first byte as ``conn``'s timeout says (``TimeoutError`` when it passes; forever on a blocking
    socket) without holding a ``limit``-byte buffer meanwhile: a thread waiting on an idle connection holds a
    few bytes, and the buffer it then fills is cut to what arrived. Memory follows what arrives, never what is
    asked for. Socket errors (a reset) propagate as ``OSError``."""
    if MSG_DONTWAIT and conn.gettimeout() is None:
        try:  # the common case of a busy connection: one call
            return conn.recv(limit, MSG_DONTWAIT)
        except BlockingIOError:
            pass
    if not conn.recv(1, socket.MSG_PEEK):  # waits, holding one byte
        return b""
    return conn.recv(limit)  # something has arrived: returns at once


def recv_arrived_into(conn: socket.socket, buffer: bytearray, limit: int) -> int:
    """Append at most ``limit`` bytes of what has arrived on ``conn`` to ``buffer`` (as :func:`recv_arrived`) and
    return how many: 0 once the peer has ended its stream. Only ``buffer`` is left holding them (a caller that
    kept the piece it appended would hold what arrived twice while it waits for more)."""
    data = recv_arrived(conn, limit)
    buffer += data
    return len(data)


def send_pieces(conn: socket.socket, pieces: Sequence[bytes | bytearray | memoryview]) -> None:
    """Send every piece, in order, until all of it is sent; one ``sendmsg`` gathers them all when the kernel
    takes them at once (``sendall`` piece by piece where the platform has no ``sendmsg``)."""
    if not hasattr(conn, "sendmsg"):
        for piece in pieces:
            conn.sendall(piece)
        return
    views = [memoryview(piece) for piece in pieces]
    while views:
        sent = conn.sendmsg(views)
        done = 0
        while done < len(views) and sent >= len(views[done]):
            sent -= len(views[done])
            done += 1
        del views[:done]
        if views and sent:
            views[0] = views[0][sent:]


def discard_until_closed(conn: socket.socket, seconds: float, recv_size: int = 65536) -> None:
    """Read and drop what the peer still sends until it closes, for at most ``seconds``; never raises.

    Call it after ``shutdown(SHUT_WR)`` and before ``close()``: closing a socket with unread input sends RST,
    which can destroy the end of what was sent before the peer has read it. While nothing arrives it holds no
    ``recv_size`` buffer (:func:`recv_arrived`)."""
    deadline = time.monotonic() + seconds
    try:
        while (left := deadline - time.monotonic()) > 0:
            conn.settimeout(left)
            if not recv_arrived(conn, recv_size):
                return
    except OSError:  # includes the timeout: the peer kept its side open too long
        pass


class EchoServer:
    """Base class: owns the listener and the stop machinery; subclasses implement :meth:`_serve`.

    Construct with ``host``/``port`` (port 0 picks an ephemeral port) or with an already-listening ``sock``.
    ``address`` is the bound ``(host, port)``. ``serve_forever()`` blocks until a shutdown completes;
    ``shutdown()`` (from another thread) requests it and waits. Usable as a context manager: leaving the
    block shuts the server down (if it is serving) and closes it.
    """

    #: bytes asked of each recv; modest on purpose (large fresh buffers cost an mmap per call)
    recv_size = 65536
    #: the listener's type: SOCK_STREAM (TCP) or SOCK_DGRAM (UDP)
    socktype = socket.SOCK_STREAM

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = 0,
        *,
        sock: socket.socket | None = None,
        grace: float = DEFAULT_GRACE,
        backlog: int = DEFAULT_BACKLOG,
    ) -> None:
        if not 0 <= grace < math.inf:
            raise ValueError(f"grace must be a finite number of seconds >= 0, got {grace!r}")
        self.grace = grace
        self.listener = sock if sock is not None else make_listener(host, port, backlog, self.socktype)
        self.listener.setblocking(False)
        name = self.listener.getsockname()
        self.address: tuple[str, int] = (name[0], name[1])
        self._stop_requested = threading.Event()
        self._serving = threading.Event()
        self._done = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)

    # -- stopping -------------------------------------------------------------------------------------
    def request_shutdown(self) -> None:
        """Ask the serving thread to stop. Returns at once; safe to call from a signal handler, repeatedly."""
        self._stop_requested.set()
        try:
            self._wake_w.send(b"x")
        except OSError:  # wake-up buffer full or already closed: the flag is what matters
            pass

    @property
    def stopping(self) -> bool:
        """True once a shutdown has been requested."""
        return self._stop_requested.is_set()

    def shutdown(self, timeout: float | None = None) -> None:
        """Request a shutdown and wait until :meth:`serve_forever` has returned.

        Waits at most ``timeout`` seconds (default: the grace period plus 5 s) and raises ``TimeoutError``
        if the server did not stop by then. Does nothing if the server is not serving.
        """
        self.request_shutdown()
        if not self._serving.is_set():
            return
        limit = self.grace + 5.0 if timeout is None else timeout
        if not self._done.wait(limit):
            raise TimeoutError(f"{type(self).__name__} did not stop within {limit:.1f}s")

    def drain_wakeups(self) -> None:
        """Empty the wake-up socket (the flag, not the bytes, carries the request)."""
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass

    # -- serving --------------------------------------------------------------------------------------
    def serve_forever(self) -> None:
        """Serve until a shutdown is requested, then drain (bounded by ``grace``) and close every socket."""
        if self._done.is_set():
            raise RuntimeError("this server has already been shut down; create a new one")
        self._serving.set()
        try:
            self._serve()
        finally:
            self.close()
            self._done.set()

    def _serve(self) -> None:
        raise NotImplementedError

    # -- command line (overridden by servers that take options of their own) -----------------------------
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add this server's own options to the shared command line."""

    @classmethod
    def options_from(cls, args: argparse.Namespace) -> dict[str, object]:
        """Keyword arguments for the constructor from the parsed options of :meth:`add_arguments`; raises
        :class:`ServerSetupError` for a bad value."""
        return {}

    def accept(self) -> socket.socket | None:
        """Accept one pending connection (returned in blocking mode with TCP_NODELAY), or None if none is.

        Transient errors yield None. Running out of descriptors or memory also yields None and sets
        :attr:`accept_paused_until`, so the caller stops polling the listener briefly instead of spinning.
        """
        try:
            conn, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            if exc.errno in ACCEPT_EXHAUSTED:
                self.accept_paused_until = time.monotonic() + ACCEPT_BACKOFF
                return None
            if exc.errno in ACCEPT_TRANSIENT:
                return None
            raise
        conn.setblocking(True)
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # the peer may already have reset the connection
            pass
        return conn

    accept_paused_until = 0.0

    def accept_wait(self) -> float | None:
        """Seconds the caller should wait before polling the listener again (None: poll it now)."""
        left = self.accept_paused_until - time.monotonic()
        return left if left > 0 else None

    def close(self) -> None:
        """Close the listener and the wake-up sockets. Idempotent."""
        for sock in (self.listener, self._wake_r, self._wake_w):
            close_quietly(sock)

    def __enter__(self) -> EchoServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._serving.is_set():
            self.shutdown()
        self.close()


def seconds_option(text: str) -> float:
    """An ``argparse`` type: a finite number of seconds >= 0; anything else is the usual one-line usage
    error (exit status 2)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0, got {text}")
    return value


def build_parser(description: str) -> argparse.ArgumentParser:
    """The command line every reference server shares."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument(
        "--listen-fd",
        action="store_true",
        help="serve the listening socket inherited as fd 3 (systemd socket activation)",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=DEFAULT_GRACE,
        help="on SIGTERM/SIGINT, seconds to let connections in flight finish (default: %(default)s)",
    )
    parser.add_argument("--backlog", type=int, default=DEFAULT_BACKLOG, help="listen backlog (default: %(default)s)")
    return parser


#: concurrent connections a server should be able to hold without a word about its descriptor limit
WANTED_DESCRIPTORS = 10_240


def raise_descriptor_limit(wanted: int = WANTED_DESCRIPTORS) -> int:
    """Raise this process's descriptor soft limit to its hard limit (each connection needs one); return the
    new soft limit. Says so on stderr when the limit stays below ``wanted``."""
    try:
        import resource
    except ImportError:  # not on this platform: nothing to raise
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (OSError, ValueError):
            pass
    if soft != resource.RLIM_INFINITY and soft < wanted:
        print(
            f"note: the descriptor limit is {soft} (hard limit {hard}): at most about {soft - 16} concurrent "
            f"connections (raise it with 'ulimit -n {wanted}')",
            file=sys.stderr,
        )
    return soft


def run_main(server_cls: type[EchoServer], description: str, argv: Sequence[str] | None = None) -> int:
    """Parse the command line, serve until SIGTERM/SIGINT, and return the exit status (0 on a clean stop).

    Prints exactly one ``listening on HOST:PORT`` line once the server accepts connections. Set-up errors
    are printed as one line on stderr with status 1; bad options exit with status 2 (argparse).
    """
    parser = build_parser(description)
    server_cls.add_arguments(parser)
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        print(f"error: --port must be between 0 and 65535, got {args.port}", file=sys.stderr)
        return 2
    if not 0 <= args.grace < math.inf:  # nan and inf too: a deadline must be a number
        print(f"error: --grace must be >= 0 and finite, got {args.grace}", file=sys.stderr)
        return 2
    raise_descriptor_limit()
    try:
        options = server_cls.options_from(args)
        socktype = server_cls.socktype
        if args.listen_fd:
            sock = inherited_listener(socktype)
        else:
            sock = make_listener(args.host, args.port, args.backlog, socktype)
        server = server_cls(sock=sock, grace=args.grace, **options)  # type: ignore[arg-type]
    except ServerSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    def on_signal(signum: int, frame: FrameType | None) -> None:
        server.request_shutdown()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        # one write for the whole line: with PYTHONUNBUFFERED, print() would write the text and the newline
        # separately, and a reader could see the line without its end
        sys.stdout.write(f"listening on {format_address(server.address)}\n")
        sys.stdout.flush()
    except OSError:  # stdout closed: serving matters more than the announcement
        pass
    server.serve_forever()
    # Stopped and exiting: a repeated stop signal must not turn exit status 0 into death by signal
    # (during interpreter finalisation Python restores the default handlers, which would kill us).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return 0
