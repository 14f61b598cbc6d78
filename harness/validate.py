"""Values from outside: command-line options, ini keys, environment variables, ``--faults`` fields.

Each number has a :class:`Rule` (whole or real, its range, its unit). :func:`real` and :func:`whole` turn a raw
value (a string as typed, or a number) into a number inside its rule, or raise :class:`BadValue`: one line,
``WHERE: must be WHAT, got RAW``, where WHERE says where the value came from (``--timeout``, ``ini key
harness_timeout``, ``environment variable HARNESS_TIMEOUT``). A real number is never NaN nor infinite.
:func:`database`, :func:`program`/:func:`command_line` and :func:`faults_fit_idle` check the values that are
not plain numbers the same way. Both shells (the command line and the pytest plugin) validate every value
with these before any server starts.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass

from .errors import HarnessError

#: the longest duration any option may ask for, in seconds
DAY = 86_400.0
#: the largest length a framed header (10 ASCII decimal digits) can declare
MAX_HEADER_LENGTH = 9_999_999_999


class BadValue(HarnessError, ValueError):
    """A value outside its rule (a :class:`HarnessError`, so exit status 2; a :class:`ValueError` for callers
    that parse specs). The message is one line naming where the value came from."""


@dataclass(frozen=True)
class Rule:
    """What a number must be: ``whole`` or real, from ``low`` (excluded when ``above``) to ``high``."""

    low: float
    high: float
    unit: str = ""
    whole: bool = False
    above: bool = False  #: the number must be greater than ``low``, not merely equal to it

    def describe(self) -> str:
        """``a finite number of seconds > 0 and at most 86400 (a day)``, ``a whole number from 1 to 65535``."""
        of = f" of {self.unit}" if self.unit else ""
        if self.whole:
            return f"a whole number{of} from {self.low:,.0f} to {self.high:,.0f}"
        high = f"{self.high:g}" + (" (a day)" if self.high == DAY else "")
        return f"a finite number{of} {'>' if self.above else '>='} {self.low:g} and at most {high}"

    def admits(self, value: float) -> bool:
        """True when ``value`` (already a number) is inside the rule."""
        if isinstance(value, float) and (not math.isfinite(value) or (self.whole and not value.is_integer())):
            return False
        if value > self.high:
            return False
        return value > self.low if self.above else value >= self.low


SECONDS = Rule(0.0, DAY, "seconds", above=True)  #: a timeout, a grace, a duration
SECONDS_OR_ZERO = Rule(0.0, DAY, "seconds")  #: a warm-up, a gap, a latency
PORT = Rule(1, 65535, whole=True)
EXAMPLES = Rule(1, 1_000_000, whole=True)
MAX_FRAME = Rule(0, MAX_HEADER_LENGTH, "bytes", whole=True)
CYCLES = Rule(1, 1_000_000, whole=True)  #: the storm check's connect/echo/close cycles
CONNECTIONS = Rule(1, 10_000, whole=True)
MESSAGE_BYTES = Rule(1, 16 * 1024 * 1024, "bytes", whole=True)  #: bench's message size
PROCESSES = Rule(1, 256, whole=True)
PAIRS = Rule(1, 1_000, whole=True)
SEGMENT_BYTES = Rule(1, 1 << 30, "bytes", whole=True)
RATE = Rule(1, 1 << 40, "bytes per second", whole=True)
CUT_AFTER = Rule(0, 1 << 40, "bytes", whole=True)


def _shown(raw: object) -> str:
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(where: str, raw: object, rule: Rule) -> float | int:
    bad = BadValue(f"{where}: must be {rule.describe()}, got {_shown(raw)}")
    if isinstance(raw, bool):
        raise bad
    if isinstance(raw, int | float):
        value: float | int = raw
    elif isinstance(raw, str):
        text = raw.strip()
        try:
            value = int(text, 10) if rule.whole else float(text)
        except ValueError:
            raise bad from None
    else:
        raise bad
    if not rule.admits(value):
        raise bad
    return value


def real(where: str, raw: object, rule: Rule) -> float:
    """``raw`` as a finite float inside ``rule``; :class:`BadValue` naming ``where`` otherwise."""
    return float(_number(where, raw, rule))


def whole(where: str, raw: object, rule: Rule) -> int:
    """``raw`` as an int inside ``rule`` (decimal digits only, for a string); :class:`BadValue` otherwise."""
    return int(_number(where, raw, rule))


def option_type(rule: Rule) -> Callable[[str], float | int]:
    """An argparse ``type=`` for ``rule``: argparse names the option (``argument --timeout: must be ...``)."""

    def convert(text: str) -> float | int:
        try:
            return whole("", text, rule) if rule.whole else real("", text, rule)
        except BadValue as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(": ")) from None

    convert.__name__ = "whole number" if rule.whole else "number"
    return convert


def database(where: str, spec: str) -> str:
    """``spec`` if it can be an example database: ``redis://``/``rediss://``/``unix://`` URL, or a path that is
    a directory or does not exist yet (Hypothesis creates it); :class:`BadValue` otherwise."""
    if spec.startswith(("redis://", "rediss://", "unix://")):
        return spec
    if not spec.strip():
        raise BadValue(f"{where}: must be a directory or redis://HOST:PORT, got {spec!r}")
    if os.path.exists(spec) and not os.path.isdir(spec):
        raise BadValue(f"{where}: {spec} is a file, not a directory (nor redis://HOST:PORT)")
    parent = os.path.dirname(os.path.abspath(spec))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise BadValue(f"{where}: {spec} cannot be a directory: {parent} is a file")
    return spec


def faults_fit_idle(where: str, gaps: tuple[float, ...], latency: float, idle: float, idle_name: str) -> None:
    """:class:`BadValue` when the longest gap plus the latency both ways reaches ``idle``: a correct server
    would then look hung to every check (nothing moves for longer than ``idle``)."""
    silence = max(gaps, default=0.0) + 2 * latency
    if silence >= idle:
        raise BadValue(
            f"{where}: the longest gap plus twice the latency ({silence:g} s) must stay under {idle_name} "
            f"({idle:g} s), or a correct server looks hung; raise {idle_name} or lower the faults"
        )


def program(name: str, where: str = "") -> str:
    """``name`` if it can be executed as a server is started (``execvp``): a name without ``/`` found on PATH,
    or a path to a regular file with execute permission; :class:`BadValue` saying which it is not (after
    ``WHERE: `` when ``where`` is given)."""
    at = f"{where}: " if where else ""
    if "/" not in name:
        if shutil.which(name) is None:
            here = f" (a file in the current directory needs a path: ./{name})" if os.path.isfile(name) else ""
            raise BadValue(f"{at}command not found: {name}{here}")
        return name
    if not os.path.exists(name):
        raise BadValue(f"{at}command not found: {name}")
    if not os.path.isfile(name):
        raise BadValue(f"{at}command is not a file: {name}")
    if not os.access(name, os.X_OK):
        raise BadValue(f"{at}command is not executable: {name} (chmod +x it, or name its interpreter: python3 {name})")
    return name


def command_line(where: str, text: str) -> list[str]:
    """``text`` split as a shell would (``shlex``), its program checked by :func:`program`."""
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise BadValue(f"{where}: {exc} in {text!r}") from None
    if not argv:
        raise BadValue(f"{where}: no command given")
    program(argv[0], where)
    return argv
