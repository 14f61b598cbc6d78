"""The check catalogue. Importing this package registers every check in :data:`REGISTRY`."""

from . import adversarial, connections, echo, faults, latency, lifecycle, stateful  # noqa: F401  (registers the checks)
from .base import REGISTRY, Check, CheckOptions, CheckResult, Verdict, check, falsify, run_check

#: families in the order they run: lifecycle last, because it stops and restarts the server
FAMILIES = ("startup", "echo", "conn", "latency", "fuzz", "lifecycle")


def catalogue() -> list[Check]:
    """Every registered check, in running order (by family, then registration order)."""
    return sorted(REGISTRY.values(), key=lambda c: FAMILIES.index(c.id.split(".")[0]))


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
