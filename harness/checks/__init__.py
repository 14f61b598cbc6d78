"""The check catalogue. Importing this package registers every check in :data:`REGISTRY`."""

from . import connections, echo  # noqa: F401  (registers the checks)
from .base import REGISTRY, Check, CheckOptions, CheckResult, Verdict, check, falsify, run_check

__all__ = ["REGISTRY", "Check", "CheckOptions", "CheckResult", "Verdict", "check", "falsify", "run_check"]
