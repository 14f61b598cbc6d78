"""Bounded waiting: the one place that polls, always with a deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
_never = threading.Event()


def poll_until(probe: Callable[[], T], timeout: float, interval: float = 0.01) -> T:
    """Call ``probe`` until it returns a truthy value or ``timeout`` seconds pass; return its last value.

    Waits ``interval`` between calls on an event that is never set (so it cannot oversleep the deadline).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        left = deadline - time.monotonic()
        if value or left <= 0:
            return value
        _never.wait(min(interval, left))
