"""Socket Harness: a protocol test harness and property-based fuzzer for TCP servers.

Layers (each usable on its own): :mod:`~harness.targets` start, address and stop servers;
:mod:`~harness.wire` drives connections from schedules; :mod:`~harness.strategies` generates payloads and
schedules; :mod:`~harness.proxy` puts a faulty network between client and server; :mod:`~harness.checks` are
pytest-free conformance checks; :mod:`~harness.corpus` keeps their failures for replay; :mod:`~harness.cli`
and :mod:`~harness.plugin` are the shells.
"""

from .checks import REGISTRY, CheckOptions, CheckResult, Verdict, catalogue, run_check
from .errors import CheckSkipped, HarnessError, ServerFault, ServerWarning, StartupFailure
from .net import connect, refused_address, reset
from .proxy import FaultProxy, Faults
from .runner import TargetReport, check_target
from .targets import ConnectTarget, InProcessTarget, SubprocessTarget, Target, reference_command
from .wire import Exchange, Schedule, drive, echo_mismatch, exchange

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
