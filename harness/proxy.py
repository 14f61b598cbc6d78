"""A fault-injecting TCP proxy: put it between a client and a server to reshape the network between them.

:class:`Faults` says what the network does: slice the bytes into segments of given sizes, leave gaps before
the first segments, add latency, throttle the rate, and cut the connection after the client has sent N bytes
(the server sees a FIN, or a RST, or a client that vanished). :class:`FaultProxy` listens on a loopback
ephemeral port and relays every connection it accepts to the upstream address with those faults, from one
thread with a selector; it buffers at most :data:`HIGH_WATER` bytes per direction, so backpressure passes
through it. It is a context manager: leaving it closes every socket and joins its thread.
"""

from __future__ import annotations

import dataclasses
import itertools
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

from . import reproduce, validate
from .errors import HarnessError
from .net import Address, connect, make_listener, reset
from .targets import Target
from .wire import watch

#: bytes a direction buffers before the proxy stops reading from its source
HIGH_WATER = 256 * 1024
#: gaps apply to the first this-many segments from the client, so a long stream stays fast
MAX_GAPPED = 4
#: segment sizes apply to the first this-many bytes of each direction, so a 64 MiB stream stays fast
MAX_SEGMENTED = 1024 * 1024
CUTS = ("close", "reset", "vanish")


@dataclass(frozen=True)
class Faults:
    """What the network between client and server does (both directions unless said otherwise).

    - ``segments``: sizes of the successive writes the proxy makes (cycled; empty: whatever it read) over
      the first :data:`MAX_SEGMENTED` bytes;
    - ``gaps``: seconds of silence before each of the first :data:`MAX_GAPPED` segments from the client
      (cycled): what the server sees of a slow client or a congested path;
    - ``latency``: seconds every byte is held before it is forwarded;
    - ``rate``: bytes per second forwarded (None: unthrottled);
    - ``cut`` after the client has sent ``cut_after`` bytes to the server: ``"close"`` (the server gets a FIN,
      the client gets whatever the server still echoes, then FIN), ``"reset"`` (both sides get a RST) or
      ``"vanish"`` (the client gets a RST; the server gets a FIN, and a RST once it writes again).
    """

    segments: tuple[int, ...] = ()
    gaps: tuple[float, ...] = (0.0,)
    latency: float = 0.0
    rate: int | None = None
    cut: str | None = None
    cut_after: int = 0

    def __post_init__(self) -> None:
        """Every field inside its rule (:mod:`harness.validate`: finite, in range), else a one-line
        :class:`~harness.validate.BadValue` (a ValueError) naming the field."""
        for size in self.segments:
            validate.whole("segments", size, validate.SEGMENT_BYTES)
        if not self.gaps:
            raise validate.BadValue("gaps: give at least one gap (0 for none)")
        for gap in self.gaps:
            validate.real("gaps", gap, validate.SECONDS_OR_ZERO)
        validate.real("latency", self.latency, validate.SECONDS_OR_ZERO)
        if self.rate is not None:
            validate.whole("rate", self.rate, validate.RATE)
        if self.cut not in (None, *CUTS):
            raise validate.BadValue(f"cut: must be one of {', '.join(CUTS)}, got {self.cut!r}")
        validate.whole("cut after", self.cut_after, validate.CUT_AFTER)

    @property
    def lossless(self) -> bool:
        """True when the faults only reshape and delay the stream: every byte still arrives."""
        return self.cut is None

    def describe(self) -> str:
        """One line for reports."""
        parts = []
        if self.segments:
            parts.append(f"segments of {'/'.join(map(str, self.segments))} B")
        if any(self.gaps):
            parts.append(f"gaps {', '.join(f'{g * 1000:g} ms' for g in self.gaps)}")
        if self.latency:
            parts.append(f"latency {self.latency * 1000:g} ms")
        if self.rate:
            parts.append(f"{self.rate} B/s")
        if self.cut:
            parts.append(f"{self.cut} after {self.cut_after} B from the client")
        return ", ".join(parts) or "no faults"

    @classmethod
    def parse(cls, text: str) -> Faults:
        """Faults from ``key=value,...`` (``segments=1/7``, ``gaps=0.3``, ``latency=0.05``, ``rate=65536``,
        ``cut=reset@100``); a one-line :class:`ValueError` naming the key otherwise (an unknown key, a value that
        is not a finite number in its range: no NaN, no infinity)."""
        fields: dict[str, object] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, sep, value = (part.strip() for part in item.partition("="))
            if not sep or key not in ("segments", "gaps", "latency", "rate", "cut"):
                raise validate.BadValue(
                    f"bad fault {item!r}: use segments=1/7, gaps=0.3, latency=0.05, rate=65536 or cut=reset@100"
                )
            if key == "segments":
                fields[key] = tuple(validate.whole(key, v, validate.SEGMENT_BYTES) for v in value.split("/"))
            elif key == "gaps":
                fields[key] = tuple(validate.real(key, v, validate.SECONDS_OR_ZERO) for v in value.split("/"))
            elif key == "latency":
                fields[key] = validate.real(key, value, validate.SECONDS_OR_ZERO)
            elif key == "rate":
                fields[key] = validate.whole(key, value, validate.RATE)
            else:
                how, _, after = value.partition("@")
                fields["cut"], fields["cut_after"] = how, validate.whole("cut after", after or "0", validate.CUT_AFTER)
        return cls(**fields)  # type: ignore[arg-type]


def lossless_faults(option: str, text: str) -> Faults:
    """The faults of ``option`` (say ``--faults``) for running every check through the proxy: parsed, and
    lossless, since with a cut every echo check fails by design. :class:`ValueError` naming ``option``."""
    try:
        faults = Faults.parse(text)
    except ValueError as exc:
        raise ValueError(f"{option}: {exc}") from None
    if not faults.lossless:
        raise ValueError(
            f"{option} takes faults that lose nothing (segments, gaps, latency, rate): with a cut every echo "
            "check fails by design; fuzz.faults tries cuts itself"
        )
    return faults


class _Direction:
    """Bytes on their way from ``src`` to ``dst``, as segments each with the time it may be sent."""

    def __init__(self, src: socket.socket, dst: socket.socket, faults: Faults, upstream: bool) -> None:
        self.src, self.dst, self.faults, self.upstream = src, dst, faults, upstream
        self.queue: deque[tuple[float, bytes]] = deque()
        self.queued = 0
        self.sizes: Iterator[int] | None = itertools.cycle(faults.segments) if faults.segments else None
        self.gaps = itertools.cycle(faults.gaps)
        self.segments_made = 0
        self.sliced = 0
        self.last_release = 0.0
        self.src_eof = False
        self.dst_shut = False
        self.discard = False  #: after a ``close`` cut: read and drop what the source still sends
        self.forwarded = 0

    def wants_read(self) -> bool:
        return not self.src_eof and self.queued < HIGH_WATER

    def take(self, data: bytes, now: float) -> None:
        """Queue ``data`` read from the source, cut into segments with their release times."""
        if self.discard:
            return
        pos = 0
        rate = self.faults.rate
        while pos < len(data):
            size = next(self.sizes) if self.sizes is not None and self.sliced < MAX_SEGMENTED else len(data)
            if rate:  # a throttled link sends at least 100 segments a second, not one burst per read
                size = min(size, max(1, rate // 100))
            chunk = data[pos : pos + size]
            pos += len(chunk)
            release = max(now + self.faults.latency, self.last_release)
            if self.upstream and self.segments_made < MAX_GAPPED:
                release += next(self.gaps)
            self.segments_made += 1
            self.queue.append((release, chunk))
            self.queued += len(chunk)
            self.sliced += len(chunk)
            self.last_release = release + (len(chunk) / rate if rate else 0.0)

    def due(self) -> float | None:
        """When the head segment may be sent (None: nothing queued)."""
        return self.queue[0][0] if self.queue else None

    def send(self, now: float, limit: int | None) -> int:
        """Send what is due (at most ``limit`` bytes); returns bytes sent. Raises OSError from the socket."""
        sent = 0
        while self.queue and self.queue[0][0] <= now:
            release, chunk = self.queue[0]
            if limit is not None and len(chunk) > limit - sent:
                chunk = chunk[: limit - sent]
            if not chunk:
                break
            n = self.dst.send(chunk)
            sent += n
            self.queued -= n
            whole = self.queue[0][1]
            if n < len(whole):
                self.queue[0] = (release, whole[n:])
            else:
                self.queue.popleft()
            if n < len(chunk):
                break
        self.forwarded += sent
        return sent


class _Pair:
    """One proxied connection: the client socket, the upstream socket, and both directions."""

    def __init__(self, client: socket.socket, server: socket.socket, faults: Faults) -> None:
        self.client, self.server = client, server
        self.up = _Direction(client, server, faults, upstream=True)
        self.down = _Direction(server, client, faults, upstream=False)
        self.cut_done = False
        self.closed = False


class FaultProxy:
    """Relays connections from :attr:`address` (loopback, ephemeral port) to ``upstream`` with ``faults``.

    Every connection accepted is connected to ``upstream`` at once (within ``timeout``); a refused upstream
    resets the client. :meth:`close` (or leaving the ``with`` block) ends every connection and the thread,
    within ``timeout``.
    """

    def __init__(self, upstream: Address, faults: Faults, timeout: float = 10.0) -> None:
        self.upstream = upstream
        self.faults = faults
        self.timeout = timeout
        self._listener = make_listener(upstream[0], 0)
        self._listener.setblocking(False)
        self.address: Address = self._listener.getsockname()[:2]
        self._wake_r, self._wake_w = socket.socketpair()
        self._stop = threading.Event()
        self._pairs: list[_Pair] = []
        self._sel = selectors.DefaultSelector()
        self._registered: dict[socket.socket, int] = {}
        self.errors: list[str] = []  #: what went wrong inside the proxy (upstream refused, ...)
        self._thread = threading.Thread(target=self._loop, name=f"fault-proxy {self.address}", daemon=True)
        self._thread.start()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop relaying, close every socket; bounded by ``timeout``."""
        self._stop.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._thread.join(self.timeout)
        if self._thread.is_alive():
            raise HarnessError("the fault proxy did not stop in time")
        self._wake_w.close()

    def _loop(self) -> None:
        sel = self._sel
        sel.register(self._listener, selectors.EVENT_READ, None)
        sel.register(self._wake_r, selectors.EVENT_READ, None)
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                wake = now + 1.0
                for pair in self._pairs:
                    wake = min(wake, self._arm(pair, now))
                for key, mask in sel.select(max(0.0, wake - time.monotonic())):
                    if key.fileobj is self._listener:
                        self._accept()
                    elif key.fileobj is not self._wake_r and not key.data.closed:
                        self._serve(key.data, key.fileobj, mask)  # type: ignore[arg-type]
                self._pairs = [p for p in self._pairs if not p.closed]
        finally:
            for pair in self._pairs:
                self._close_pair(pair, abort=True)
            sel.close()
            self._listener.close()
            self._wake_r.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.errors.append(f"accept failed: {exc}")
                return
            try:
                server = connect(self.upstream, self.timeout)
            except OSError as exc:
                self.errors.append(f"upstream {self.upstream} refused the proxied connection: {exc}")
                reset(client)
                continue
            client.setblocking(False)
            server.setblocking(False)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._pairs.append(_Pair(client, server, self.faults))

    def _arm(self, pair: _Pair, now: float) -> float:
        """Register what each socket of ``pair`` waits for; return when a queued segment falls due."""
        wake = now + 1.0
        wants: dict[socket.socket, int] = {pair.client: 0, pair.server: 0}
        for d in (pair.up, pair.down):
            if d.wants_read():
                wants[d.src] |= selectors.EVENT_READ
            due = d.due()
            if due is not None:
                if due <= now:
                    wants[d.dst] |= selectors.EVENT_WRITE
                else:
                    wake = min(wake, due)
        for sock, events in wants.items():
            watch(self._sel, self._registered, sock, events, pair)
        return wake

    def _serve(self, pair: _Pair, sock: socket.socket, mask: int) -> None:
        now = time.monotonic()
        try:
            if mask & selectors.EVENT_READ:
                d = pair.up if sock is pair.client else pair.down
                data = sock.recv(65536)
                if data:
                    d.take(data, now)
                else:
                    d.src_eof = True
            if mask & selectors.EVENT_WRITE:
                d = pair.up if sock is pair.server else pair.down
                limit = None
                if d.upstream and self.faults.cut is not None:
                    limit = self.faults.cut_after - d.forwarded
                d.send(now, limit)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            # one side reset or failed: pass the abort on to the other side, as a real network path would
            self._close_pair(pair, abort=True)
            return
        self._advance(pair)

    def _advance(self, pair: _Pair) -> None:
        """Apply the cut once it is due, forward EOFs once a direction has drained, end finished pairs."""
        up, down = pair.up, pair.down
        cut = self.faults.cut
        if cut is not None and not pair.cut_done and up.forwarded >= self.faults.cut_after:
            pair.cut_done = True
            if cut == "reset":
                self._close_pair(pair, abort=True)
                return
            if cut == "vanish":  # the client is gone without a word; the server just sees its connection close
                self._close_pair(pair, abort=True, abort_server=False)
                return
            # close: the server gets a FIN; what the client still sends is dropped
            up.queue.clear()
            up.queued = 0
            up.discard = True
            up.dst_shut = True
            try:
                pair.server.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        for d in (up, down):
            if d.src_eof and not d.queue and not d.dst_shut:
                d.dst_shut = True
                try:
                    d.dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
        if up.dst_shut and down.dst_shut and (up.src_eof or not up.discard):
            self._close_pair(pair, abort=False)

    def _close_pair(self, pair: _Pair, *, abort: bool, abort_server: bool | None = None) -> None:
        """Close both sockets of ``pair``: with a RST when ``abort`` (the server's with ``abort_server`` when
        given), else with a FIN. Idempotent."""
        if pair.closed:
            return
        pair.closed = True
        self._unregister(pair)
        for sock, rst in ((pair.client, abort), (pair.server, abort if abort_server is None else abort_server)):
            if rst:
                reset(sock)
            else:
                sock.close()

    def _unregister(self, pair: _Pair) -> None:
        for sock in (pair.client, pair.server):
            watch(self._sel, self._registered, sock, 0, None)


class ProxiedView(Target):
    """A started target seen through a :class:`FaultProxy`: connections to :attr:`address` cross ``faults``.

    Everything else (pid, descriptors, stderr, liveness, sequential) is the inner target's. The view neither
    starts nor stops the server (``lifecycle`` is False): lifecycle checks run against the target itself.
    Closing the view closes the proxy only.
    """

    def __init__(self, inner: Target, faults: Faults, timeout: float = 10.0) -> None:
        super().__init__(inner.host)
        self.inner = inner
        self.name = f"{inner.name} through the fault proxy ({faults.describe()})"
        self.sequential = inner.sequential
        self.network_delay = 2 * faults.latency + MAX_GAPPED * max(faults.gaps)
        self.proxy = FaultProxy(inner.address, faults, timeout)
        self._address = self.proxy.address

    @property
    def pid(self) -> int | None:
        return self.inner.pid

    def start(self) -> Address:
        return self.address

    def stop(self) -> None:
        self.proxy.close()
        self._address = None

    def alive(self) -> bool:
        return self.inner.alive()

    def fd_count(self) -> int | None:
        return self.inner.fd_count()

    def stderr_tail(self, lines: int = 15) -> str:
        return self.inner.stderr_tail(lines)

    def target_for(self, check_id: str) -> Target:
        """Lifecycle checks stop and restart the server: they talk to it directly."""
        return self.inner if check_id.startswith("lifecycle.") else self

    def adapt_reproducer(self, reproducer: str) -> str:
        """``reproducer`` (written for this view's address) made to start its own proxy with the same faults
        in front of the server, since this view's proxy is gone by the time anyone runs it."""
        faults = dataclasses.asdict(self.proxy.faults)
        return reproduce.through_proxy(reproducer, self.address, self.inner.address, faults)
