"""Hypothesis strategies for payloads and schedules.

Payloads up to 1 MiB are not drawn byte by byte (Hypothesis' choice buffer is far smaller): a
:class:`PayloadSpec` draws a short literal ``head`` byte by byte, a ``size`` that favours boundaries
(2^k ± 1, multiples of 1024/4096/65536 ± 1) and a ``kind`` + ``seed`` that build the body
deterministically. Every part shrinks (size towards 0, head towards empty, kind towards ``zeros``), and a
spec prints as one line of code that rebuilds the payload, which is what a reproducer needs.

Nothing evaluates code: :meth:`PayloadSpec.build` makes the bytes directly; :func:`harness.payload_code.payload_of`
reads the expression :meth:`PayloadSpec.code` writes (or any like it) without evaluating it.

All strategies take keyword-only arguments, validated at once with a message that says how to fix the call.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from hypothesis import strategies as st

from .wire import Schedule

KiB = 1024
MiB = 1024 * KiB

#: body generators, simplest first (Hypothesis shrinks towards the first)
KINDS = ("zeros", "all-bytes", "random", "utf8-split", "crlf-nul")
_UTF8_TEXT = "aé€😀\u0301".encode()  # 1-, 2-, 3- and 4-byte characters, and a combining mark
_LINES = b"line one\r\nline\ttwo\n\x00\r\r\n\xff\xfe"


@dataclass(frozen=True)
class PayloadSpec:
    """A payload as ``head + body(kind, seed)`` cut to ``size`` bytes; see the module docstring."""

    size: int
    kind: str = "zeros"
    seed: int = 0
    head: bytes = b""

    def build(self) -> bytes:
        """The payload bytes, made directly (no code is evaluated): exactly what :meth:`code` evaluates to, so a
        reproducer rebuilds the same bytes."""
        n = max(0, self.size - len(self.head))
        if self.kind == "zeros":
            body = bytes(n)
        elif self.kind == "all-bytes":
            body = (bytes(range(self.seed % 256, 256)) + bytes(range(256)) * (n // 256 + 2))[:n]
        elif self.kind == "random":
            body = random.Random(self.seed).randbytes(n)
        elif self.kind in ("utf8-split", "crlf-nul"):
            unit = _UTF8_TEXT if self.kind == "utf8-split" else _LINES
            body = (unit * (n // len(unit) + 2))[self.seed % len(unit) :][:n]
        else:
            raise ValueError(f"unknown payload kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        return (self.head + body)[: self.size] if self.head else body

    def code(self) -> str:
        """A standalone Python expression (needing only ``import random``) that evaluates to the payload."""
        n = max(0, self.size - len(self.head))
        if self.kind == "zeros":
            body = f"bytes({n})"
        elif self.kind == "all-bytes":
            body = f"(bytes(range({self.seed % 256}, 256)) + bytes(range(256)) * {n // 256 + 2})[:{n}]"
        elif self.kind == "random":
            body = f"random.Random({self.seed}).randbytes({n})"
        elif self.kind in ("utf8-split", "crlf-nul"):
            unit = _UTF8_TEXT if self.kind == "utf8-split" else _LINES
            body = f"({unit!r} * {n // len(unit) + 2})[{self.seed % len(unit)}:][:{n}]"
        else:
            raise ValueError(f"unknown payload kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if not self.head:
            return body
        return f"({self.head!r} + {body})[:{self.size}]"

    def __str__(self) -> str:
        head = f" after head {self.head!r}" if self.head else ""
        return f"{self.size} B of {self.kind} (seed {self.seed}){head}"


def boundary_sizes(max_size: int) -> list[int]:
    """Sizes where buffering bugs live, up to ``max_size``: 2^k and multiples of 1 KiB/4 KiB/64 KiB, ± 1."""
    bases = {1 << k for k in range(0, 31)}
    for unit in (KiB, 4 * KiB, 64 * KiB):
        bases.update(unit * m for m in (1, 2, 3, 4, 16))
    sizes = {b + d for b in bases for d in (-1, 0, 1)}
    return sorted(s for s in sizes if 0 <= s <= max_size)


def _check_range(name: str, min_size: int, max_size: int) -> None:
    if not isinstance(min_size, int) or not isinstance(max_size, int):
        raise TypeError(f"{name}(min_size=..., max_size=...) take integers, got {min_size!r}, {max_size!r}")
    if not 0 <= min_size <= max_size:
        raise ValueError(f"{name}() needs 0 <= min_size <= max_size, got min_size={min_size}, max_size={max_size}")


def sizes(*, min_size: int = 0, max_size: int = MiB) -> st.SearchStrategy[int]:
    """Sizes in ``[min_size, max_size]``, favouring boundary sizes (see :func:`boundary_sizes`)."""
    _check_range("sizes", min_size, max_size)
    special = [s for s in boundary_sizes(max_size) if s >= min_size]
    anywhere = st.integers(min_size, max_size)
    return st.one_of(st.sampled_from(special), anywhere) if special else anywhere


def payload_specs(
    *, min_size: int = 0, max_size: int = MiB, kinds: tuple[str, ...] = KINDS
) -> st.SearchStrategy[PayloadSpec]:
    """:class:`PayloadSpec` values from ``min_size`` to ``max_size`` bytes over all byte values."""
    _check_range("payload_specs", min_size, max_size)
    unknown = set(kinds) - set(KINDS)
    if not kinds or unknown:
        raise ValueError(f"payload_specs(kinds=...) must be a non-empty subset of {KINDS}, got {kinds!r}")
    return st.builds(
        PayloadSpec,
        size=sizes(min_size=min_size, max_size=max_size),
        kind=st.sampled_from(kinds),
        seed=st.integers(0, 2**16),
        head=st.binary(max_size=min(32, max_size)),
    ).filter(lambda spec: len(spec.head) <= spec.size)


def recv_sizes(*, max_size: int = 64 * KiB) -> st.SearchStrategy[int]:
    """recv buffer sizes from 1 to ``max_size``, favouring 1, tiny sizes and boundaries."""
    _check_range("recv_sizes", 1, max_size)
    return sizes(min_size=1, max_size=max_size)


@st.composite
def schedules(
    draw: st.DrawFn,
    *,
    max_size: int = 256 * KiB,
    max_pause: float = 0.02,
    max_calls: int = 4096,
    half_close: bool | None = True,
) -> tuple[PayloadSpec, Schedule]:
    """A payload with a chunking (single bytes included), pauses between writes, and recv sizes.

    Chunk and recv sizes are raised where needed so that no schedule makes more than ``max_calls`` writes
    or reads, which keeps one example under a second. ``half_close=None`` draws it too.
    """
    spec = draw(payload_specs(max_size=max_size))
    floor = max(1, -(-spec.size // max_calls))
    chunk_sizes = draw(st.lists(st.integers(1, 64 * KiB) | st.sampled_from([1, 2, 3]), min_size=1, max_size=4))
    pauses = draw(st.lists(st.sampled_from([0.0, 0.001, 0.005, max_pause]), min_size=1, max_size=3))
    reads = draw(st.lists(recv_sizes(), min_size=1, max_size=3))
    closing = draw(st.booleans()) if half_close is None else half_close
    schedule = Schedule(
        spec.build(),
        chunk_sizes=tuple(max(floor, c) for c in chunk_sizes),
        pauses=tuple(pauses),
        recv_sizes=tuple(max(floor, r) for r in reads),
        half_close=closing,
    )
    return spec, schedule


def messages(*, max_count: int = 8, max_size: int = 16 * KiB) -> st.SearchStrategy[list[PayloadSpec]]:
    """Interactive conversations: 1 to ``max_count`` messages, sizes at multiples of 1024 ± 1 included."""
    if max_count < 1:
        raise ValueError(f"messages(max_count=...) must be at least 1, got {max_count}")
    return st.lists(payload_specs(min_size=1, max_size=max_size), min_size=1, max_size=max_count)
