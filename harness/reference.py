"""Where the reference servers live: ``socket_harness.servers`` once installed (one distinctive import name, so
a project with a ``servers`` package of its own shadows nothing), the top-level ``servers`` of a checkout when
the harness runs from one (``python -m harness`` in the repository)."""

from __future__ import annotations

import importlib
from types import ModuleType


def package() -> ModuleType:
    """The reference servers' package (see the module docstring)."""
    bundled = f"{__package__}.servers"
    try:
        return importlib.import_module(bundled)
    except ModuleNotFoundError as exc:
        if exc.name != bundled:
            raise
        return importlib.import_module("servers")


def module(server: str) -> str:
    """The module to run a reference server with: ``python -m MODULE``."""
    return f"{package().__name__}.{server}"


def echo_servers() -> tuple[str, ...]:
    """The reference echo servers' names (``sequential``, ``threaded``, ``selector``)."""
    names: tuple[str, ...] = package().ECHO_SERVERS
    return names
