"""Baseline echo servers the benchmark compares against, each the idiomatic version of its framework.

``python -m harness.anchors NAME [--host H] [--port N]`` serves echo on loopback and prints
``listening on HOST:PORT`` once ready (``--port 0``: an ephemeral port). SIGTERM exits at once.

- ``asyncio-streams``: ``asyncio.start_server`` with ``reader.read(65536)``, ``writer.write``, ``await drain()``;
- ``asyncio-protocol``: an ``asyncio.Protocol`` whose ``data_received`` writes the data back;
- ``uvloop``: the same Protocol on uvloop's event loop (``pip install uvloop``; the ``bench`` tox env has it);
- ``socketserver``: ``socketserver.ThreadingTCPServer`` with a ``recv``/``sendall`` handler.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import socketserver
import sys
from collections.abc import Sequence
from typing import Any

ANCHORS = ("asyncio-streams", "asyncio-protocol", "uvloop", "socketserver")


def _ready(sock: socket.socket) -> None:
    host, port = sock.getsockname()[:2]
    print(f"listening on {host}:{port}", flush=True)


async def _streams(host: str, port: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.write_eof()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port, backlog=1024)
    _ready(server.sockets[0])
    await server.serve_forever()


class _Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport  # uvloop's transports are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def eof_received(self) -> bool | None:
        self.transport.write_eof()
        return True


async def _protocol(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Echo, host, port, backlog=1024)
    _ready(server.sockets[0])
    await server.serve_forever()


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        try:
            while data := sock.recv(65536):
                sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class _ThreadingServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 1024


def serve(name: str, host: str, port: int) -> None:
    """Serve echo with anchor ``name`` until SIGTERM or SIGINT."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    if name == "socketserver":
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_cls = type("Server", (_ThreadingServer,), {"address_family": family})
        with server_cls((host, port), _Handler) as server:
            _ready(server.socket)
            server.serve_forever()
    elif name == "uvloop":
        import uvloop  # type: ignore[import-not-found,unused-ignore]

        uvloop.run(_protocol(host, port))
    else:
        asyncio.run(_streams(host, port) if name == "asyncio-streams" else _protocol(host, port))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.anchors", description="baseline echo servers")
    parser.add_argument("name", choices=ANCHORS)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        serve(args.name, args.host, args.port)
    except ImportError as exc:
        print(f"error: {args.name} needs {exc.name}: pip install {exc.name}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
