"""The check catalogue. Importing this package registers every check in :data:`REGISTRY`."""

# importing a check module registers its checks
from . import adversarial, connections, echo, faults, framed, greeting, http, latency, lifecycle, stateful, udp  # noqa: F401
from .base import REGISTRY, Check, CheckOptions, CheckResult, Verdict, check, falsify, run_check

#: families in the order they run: lifecycle last, because it stops and restarts the server
FAMILIES = ("startup", "echo", "framed", "greeting", "http", "udp", "conn", "latency", "fuzz", "lifecycle")


def catalogue(protocol: str = "echo") -> list[Check]:
    """Every check registered for ``protocol``, in running order (by family, then registration order)."""
    chosen = [c for c in REGISTRY.values() if protocol in c.protocols]
    return sorted(chosen, key=lambda c: FAMILIES.index(c.id.split(".")[0]))


__all__ = [
    "FAMILIES",
    "REGISTRY",
    "Check",
    "CheckOptions",
    "CheckResult",
    "Verdict",
    "catalogue",
    "check",
    "falsify",
    "run_check",
]
