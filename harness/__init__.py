"""Socket Harness: a protocol test harness and property-based fuzzer for TCP servers.

Layers (each usable on its own): :mod:`~harness.targets` start, address and stop servers;
:mod:`~harness.wire` drives connections from schedules; :mod:`~harness.strategies` generates payloads and
schedules; :mod:`~harness.proxy` puts a faulty network between client and server; :mod:`~harness.checks` are
pytest-free conformance checks; :mod:`~harness.corpus` keeps their failures for replay; :mod:`~harness.cli`
and :mod:`~harness.plugin` are the shells.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .checks import REGISTRY, CheckOptions, CheckResult, Verdict, catalogue, run_check
    from .errors import CheckSkipped, HarnessError, ServerFault, ServerWarning, StartupFailure
    from .net import connect, refused_address, reset
    from .proxy import FaultProxy, Faults
    from .runner import TargetReport, check_target
    from .targets import ConnectTarget, InProcessTarget, SubprocessTarget, Target, reference_command
    from .wire import Exchange, Schedule, drive, echo_mismatch, exchange

#: where each public name lives: imported on first use, so that ``import socket_harness`` (which every
#: ``python -m socket_harness.servers.NAME`` does) costs nothing
_WHERE = {
    "REGISTRY": "checks",
    "CheckOptions": "checks",
    "CheckResult": "checks",
    "Verdict": "checks",
    "catalogue": "checks",
    "run_check": "checks",
    "CheckSkipped": "errors",
    "HarnessError": "errors",
    "ServerFault": "errors",
    "ServerWarning": "errors",
    "StartupFailure": "errors",
    "connect": "net",
    "refused_address": "net",
    "reset": "net",
    "FaultProxy": "proxy",
    "Faults": "proxy",
    "TargetReport": "runner",
    "check_target": "runner",
    "ConnectTarget": "targets",
    "InProcessTarget": "targets",
    "SubprocessTarget": "targets",
    "Target": "targets",
    "reference_command": "targets",
    "Exchange": "wire",
    "Schedule": "wire",
    "drive": "wire",
    "echo_mismatch": "wire",
    "exchange": "wire",
}


def __getattr__(name: str) -> object:
    """The public name ``name``, imported from its module on first use."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "REGISTRY",
    "CheckOptions",
    "CheckResult",
    "CheckSkipped",
    "ConnectTarget",
    "Exchange",
    "FaultProxy",
    "Faults",
    "HarnessError",
    "InProcessTarget",
    "Schedule",
    "ServerFault",
    "ServerWarning",
    "StartupFailure",
    "SubprocessTarget",
    "Target",
    "TargetReport",
    "Verdict",
    "catalogue",
    "check_target",
    "connect",
    "drive",
    "echo_mismatch",
    "exchange",
    "reference_command",
    "refused_address",
    "reset",
    "run_check",
]
