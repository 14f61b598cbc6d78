"""Targets: how a server under test is started, addressed and stopped.

Every target offers ``start() -> address``, ``stop() -> StopReport | None`` and the facts lifecycle checks
need (``pid``, ``lifecycle``, ``stderr_tail()``), and is a context manager that always stops what it
started. Three kinds:

- :class:`InProcessTarget`: a reference server class served from a thread of this process (port 0);
- :class:`SubprocessTarget`: any command, in its own process group, told its port by ``{port}``/``PORT``,
  by its own ``--port 0`` readiness line, or handed a listening socket (``--listen-fd``);
- :class:`ConnectTarget`: a server that is already running; nothing to start or stop.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from . import fdexec, reference, sysinfo
from .errors import HarnessError, StartupFailure
from .net import Address, connect, family_of, format_address, free_port, make_listener
from .process import ServerProcess, StopReport
from .protocols import PROTOCOLS

if TYPE_CHECKING:
    from servers.base import EchoServer

DEFAULT_STARTUP_TIMEOUT = 10.0
DEFAULT_GRACE = 5.0


class Target:
    """Base class; see the module docstring. ``address`` is valid between ``start()`` and ``stop()``."""

    name = "server"
    #: the harness starts and stops this server itself, so lifecycle checks can run
    lifecycle = False
    #: the server serves one client at a time (concurrency checks become "served in turn")
    sequential = False
    #: the most delay the network path adds to a round trip (seconds); checks with time bounds allow for it
    network_delay = 0.0

    def __init__(self, host: str) -> None:
        family_of(host)
        self.host = host
        self._address: Address | None = None

    @property
    def address(self) -> Address:
        """The address to connect to; :class:`HarnessError` if the target is not started."""
        if self._address is None:
            raise HarnessError(f"{self.name} is not started")
        return self._address

    @property
    def pid(self) -> int | None:
        """The server's process id when it runs in a process of its own, else None."""
        return None

    def start(self) -> Address:
        """Start the server (if the harness owns it) and return its address once it accepts connections."""
        raise NotImplementedError

    def stop(self) -> StopReport | None:
        """Stop the server (SIGTERM or ``shutdown()``), bounded by the grace period; None if not owned."""
        self._address = None
        return None

    def terminate(self) -> StopReport | None:
        """Like :meth:`stop`, but leave other processes of the server's group alive for inspection;
        :meth:`close` ends them."""
        return self.stop()

    def alive(self) -> bool:
        """True while the server is running (always True for a server the harness does not own)."""
        return True

    def exit_status(self) -> int | None:
        """The server's exit status once it has ended (-N: killed by signal N); None while it runs, or when
        the harness cannot tell."""
        return None

    def ended_within(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for a server that may be dying to end; True if it is not running."""
        return not self.alive()

    def same_port_restart_impossible(self) -> str | None:
        """None when :meth:`restart` can start the server again on the same port, else why it cannot."""
        return "the harness does not own this server"

    def fd_count(self) -> int | None:
        """Descriptors the server holds, or None when they cannot be observed."""
        return None

    def wait_asleep(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s until the server is blocked waiting for work; True if it was seen to be,
        False if not (or when that cannot be observed)."""
        return False

    def frozen(self) -> contextlib.AbstractContextManager[bool]:
        """A context in which the server does not run, so what clients send meanwhile queues up at it
        together (as under load); it runs again when the context ends. Yields True if the server was seen
        stopped; a server the harness does not run as a process of its own is not stopped (False)."""
        return contextlib.nullcontext(False)

    def stderr_tail(self, lines: int = 15) -> str:
        """The end of the server's stderr, when the harness captures it."""
        return ""

    def startup_note(self) -> str:
        """What the start-up showed that a report should say (a daemon followed from its launcher), or ""."""
        return ""

    def restart(self) -> Address:
        """Stop, then start again on the same port; the new address (same port) is returned."""
        raise HarnessError(f"{self.name} cannot be restarted on the same port")

    def target_for(self, check_id: str) -> Target:
        """The target check ``check_id`` talks to: this one (a view in front of a server answers with the
        server itself for the checks that stop and restart it)."""
        return self

    def adapt_reproducer(self, reproducer: str) -> str:
        """``reproducer``, written against :attr:`address`, made to replay on its own later."""
        return reproducer

    def __enter__(self) -> Target:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the server if it is running and release everything; never raises for a server's fault."""
        if self._address is not None:
            self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class InProcessTarget(Target):
    """A reference server (``servers.NAME``) served from a thread of this process on an ephemeral port."""

    lifecycle = True

    def __init__(
        self, server: str, host: str = "127.0.0.1", grace: float = DEFAULT_GRACE, **server_options: object
    ) -> None:
        super().__init__(host)
        try:
            self.server_cls: type[EchoServer] = reference.package().server_class(server)
        except KeyError as exc:
            raise HarnessError(str(exc.args[0])) from None
        self.name = f"{server} (in-process)"
        self.sequential = server == "sequential"
        self.grace = grace
        self.port = 0
        self._thread: threading.Thread | None = None
        self.server: object = None
        self.server_options = server_options

    def start(self) -> Address:
        server = self.server_cls(self.host, self.port, grace=self.grace, **self.server_options)  # type: ignore[arg-type]
        self.server = server
        self.port = server.address[1]
        self._thread = threading.Thread(target=server.serve_forever, name=self.name, daemon=True)
        self._thread.start()
        self._address = server.address
        return server.address

    def stop(self) -> StopReport | None:
        base = importlib.import_module(f"{reference.package().__name__}.base")
        server, thread = self.server, self._thread
        self._address = None
        if not isinstance(server, base.EchoServer) or thread is None:
            return None
        start = time.monotonic()
        try:
            server.shutdown(self.grace + 1.0)
            ok = True
        except TimeoutError:
            ok = False
        thread.join(1.0)
        ok = ok and not thread.is_alive()
        self._thread = None
        return StopReport(0 if ok else None, ok, time.monotonic() - start, ())

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def same_port_restart_impossible(self) -> str | None:
        return None

    def fd_count(self) -> int | None:
        return sysinfo.fd_count()

    def restart(self) -> Address:
        self.stop()
        return self.start()


class SubprocessTarget(Target):
    """Any command, in its own process group; see the module docstring for how it learns its port.

    ``{port}`` and ``{host}`` in ``argv`` are replaced and ``PORT``/``HOST`` set in its environment, and so
    is each of ``placeholders`` (``{"root": DIR}``: ``{root}`` and ``ROOT``). With ``port=0`` (default) the
    command must print ``listening on HOST:PORT``; with ``port=None`` a free port is chosen for it;
    ``listen_fd=True`` hands it a listening socket as fd 3 (race-free). ``transport="udp"`` for a UDP server.
    """

    lifecycle = True

    def __init__(
        self,
        argv: Sequence[str],
        host: str = "127.0.0.1",
        *,
        port: int | None = None,
        listen_fd: bool = False,
        grace: float = DEFAULT_GRACE,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        name: str | None = None,
        sequential: bool = False,
        transport: str = "tcp",
        placeholders: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(host)
        if not argv:
            raise HarnessError("no server command given")
        self.transport = transport
        self.placeholders = dict(placeholders or {})
        self.argv = [self._substitute(arg) for arg in argv]
        self.port = port
        #: the server listens on a port given by the user (``--port N``) by itself
        self.fixed_port = port not in (None, 0)
        self.listen_fd = listen_fd
        self.grace = grace
        self.startup_timeout = startup_timeout
        self.sequential = sequential
        self.name = name or " ".join(argv)
        self.process: ServerProcess | None = None
        self.last_stop: StopReport | None = None

    def _substitute(self, arg: str) -> str:
        for key, value in self.placeholders.items():
            arg = arg.replace("{" + key + "}", value)
        return arg

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> Address:
        port = self.port if self.port is not None else free_port(self.host, self.transport)
        argv = [arg.replace("{port}", str(port)).replace("{host}", self.host) for arg in self.argv]
        env = dict(os.environ, PORT=str(port), HOST=self.host, **{k.upper(): v for k, v in self.placeholders.items()})
        if self.listen_fd:
            listener = make_listener(self.host, port, self.transport)
            port = listener.getsockname()[1]
            env["PORT"] = str(port)
            argv = [arg.replace("{port}", str(port)) for arg in argv]
            try:
                # run as a script: importing the package first would slow every start
                cmd = [sys.executable, fdexec.__file__, str(listener.fileno()), *argv]
                self.process = ServerProcess(cmd, env=env, pass_fds=[listener.fileno()])
            finally:
                listener.close()
        else:
            self.process = ServerProcess(argv, env=env)
        try:
            # the socket must be the server's, unless the harness handed it over (--listen-fd)
            owner_host = None if self.listen_fd else self.host
            announced = self.process.wait_ready(self.startup_timeout, port or None, self.transport, owner_host)
            # a server may announce a wildcard or a name: we always talk to the loopback host we asked for
            address = (self.host, announced_port(announced)) if announced else (self.host, port)
        except BaseException:  # whatever fails after the spawn, the server does not outlive it
            self.process.cleanup()
            raise
        self.port = address[1]
        self._address = address
        return address

    def stop(self) -> StopReport | None:
        report = self.terminate()
        self.close()
        return report

    def terminate(self) -> StopReport | None:
        self._address = None
        if self.process is None:
            return None
        self.last_stop = self.process.terminate(self.grace)
        return self.last_stop

    def close(self) -> None:
        """End every process of the server (what it wrote stays readable: :meth:`stderr_tail`)."""
        if self.process is not None:
            self.process.cleanup()
        self._address = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_status(self) -> int | None:
        return self.process.poll() if self.process is not None else None

    def ended_within(self, timeout: float) -> bool:
        return self.process is None or self.process.wait(timeout)

    def same_port_restart_impossible(self) -> str | None:
        if self.port is not None and (self.listen_fd or self.fixed_port or names_port(self.argv)):
            return None
        return (
            "the server chooses its own port (no {port} in its command, no --port N), so a restart on the same "
            "port cannot be asked of it"
        )

    def leftovers(self, timeout: float) -> tuple[int, ...]:
        """After :meth:`terminate`: wait up to ``timeout`` s for the server's other processes (its group, its
        descendants, whatever carries its token) to end; who is left."""
        return self.process.wait_group_empty(timeout) if self.process else ()

    def fd_count(self) -> int | None:
        return sysinfo.fd_count(self.process.pid) if self.process else None

    def wait_asleep(self, timeout: float) -> bool:
        return self.process.wait_asleep(timeout) if self.process else False

    def frozen(self) -> contextlib.AbstractContextManager[bool]:
        return self.process.frozen() if self.process else contextlib.nullcontext(False)

    def stderr_tail(self, lines: int = 15) -> str:
        return self.process.stderr_tail(lines) if self.process else ""

    def startup_note(self) -> str:
        return self.process.followed_note() if self.process else ""

    def restart(self) -> Address:
        why_not = self.same_port_restart_impossible()
        if why_not is not None:
            raise HarnessError(f"{self.name} cannot be restarted on the same port: {why_not}")
        self.stop()
        return self.start()

    def __repr__(self) -> str:
        where = format_address(self._address) if self._address else "stopped"
        return f"<SubprocessTarget {self.name} {where}>"


class ConnectTarget(Target):
    """A server that is already running at ``address``; the harness neither starts nor stops it."""

    def __init__(self, address: Address, *, sequential: bool = False, transport: str = "tcp") -> None:
        super().__init__(address[0])
        self._fixed = address
        self.sequential = sequential
        self.transport = transport
        self.name = format_address(address)

    def start(self) -> Address:
        """Confirm something listens at the address (one probe connection); :class:`StartupFailure` if not.
        A UDP server cannot be probed without speaking its protocol: its checks find out."""
        if self.transport == "udp":
            self._address = self._fixed
            return self._fixed
        try:
            connect(self._fixed, DEFAULT_STARTUP_TIMEOUT).close()
        except ConnectionRefusedError:
            raise StartupFailure(f"nothing listens on {self.name}: connection refused") from None
        except OSError as exc:
            raise StartupFailure(f"cannot connect to {self.name}: {exc}") from None
        self._address = self._fixed
        return self._fixed


def announced_port(announced: str) -> int:
    """The port of a readiness line's ``HOST:PORT`` (any host); :class:`StartupFailure` if it has none."""
    port = announced.rpartition(":")[2]
    if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise StartupFailure(f"the readiness line says 'listening on {announced}', which has no valid port")
    return int(port)


def names_placeholder(argv: Sequence[str], key: str) -> bool:
    """True when a server command is told something through ``{key}`` in its arguments."""
    return any("{" + key + "}" in arg for arg in argv)


def names_port(argv: Sequence[str]) -> bool:
    """True when a server command is told its port through ``{port}`` in its arguments."""
    return names_placeholder(argv, "port")


def reference_command(server: str, options: Mapping[str, object] | None = None) -> list[str]:
    """The command that runs reference server ``server`` on the port in ``{port}`` (0: ephemeral), with
    each of ``options`` as a ``--name value`` option (``max_frame`` is ``--max-frame``)."""
    extra = [item for key, value in (options or {}).items() for item in (f"--{key.replace('_', '-')}", str(value))]
    return [sys.executable, "-m", reference.module(server), "--host", "{host}", "--port", "{port}", *extra]


def reference_target(
    name: str,
    mode: str = "subprocess",
    *,
    host: str = "127.0.0.1",
    grace: float = DEFAULT_GRACE,
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
    server_options: Mapping[str, object] | None = None,
) -> Target:
    """Reference server ``name`` as an ``inprocess`` or ``subprocess`` target (sequential servers flagged),
    constructed with ``server_options`` (in-process: keyword arguments; subprocess: ``--name value``)."""
    options = dict(server_options or {})
    if mode == "inprocess":
        return InProcessTarget(name, host, grace=grace, **options)
    if mode != "subprocess":
        raise HarnessError(f"mode must be 'inprocess' or 'subprocess', got {mode!r}")
    return SubprocessTarget(
        reference_command(name, options),
        host,
        port=0,
        grace=grace,
        startup_timeout=startup_timeout,
        name=name,
        sequential=name == "sequential",
        transport=next((p.transport for p in PROTOCOLS.values() if name in p.servers), "tcp"),
    )
