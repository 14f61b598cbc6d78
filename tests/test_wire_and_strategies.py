"""Units of the harness core: schedules, the wire driver, mismatch explanations, payload specs, strategies."""

from __future__ import annotations

import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from socket_harness.strategies import KINDS, MiB, PayloadSpec, boundary_sizes, payload_specs, schedules, sizes
from socket_harness.wire import Exchange, Schedule, drive, echo_mismatch


@given(st.binary(max_size=5000), st.lists(st.integers(1, 700), min_size=1, max_size=4))
def test_chunks_cover_the_payload_in_order(payload: bytes, chunk_sizes: list[int]) -> None:
    chunks = Schedule(payload, chunk_sizes=tuple(chunk_sizes)).chunks()
    assert b"".join(chunks) == payload
    assert all(0 < len(c) <= max(chunk_sizes) for c in chunks)


@pytest.mark.parametrize(
    "kwargs, words",
    [({"chunk_sizes": (0,)}, "chunk_sizes"), ({"recv_sizes": ()}, "recv_sizes"), ({"pauses": (-1.0,)}, "pauses")],
)
def test_schedule_rejects_impossible_values(kwargs: dict[str, tuple[float, ...]], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Schedule(b"x", **kwargs)  # type: ignore[arg-type]


def test_echo_mismatch_explains_the_difference() -> None:
    assert echo_mismatch(b"abc", Exchange(received=bytearray(b"abc"))) is None
    assert "differs at byte 1" in (echo_mismatch(b"abc", Exchange(received=bytearray(b"aXc"))) or "")
    lost = echo_mismatch(b"abcdef", Exchange(received=bytearray(b"abc"), eof=True)) or ""
    assert "only 3 of 6 B came back (3 lost)" in lost and "FIN" in lost
    extra = echo_mismatch(b"ab", Exchange(received=bytearray(b"abcd"))) or ""
    assert "the server sent 2 B more than it was sent, from byte 2: b'cd'" in extra
    assert "RST" in (echo_mismatch(b"ab", Exchange(reset=True)) or "")


def test_drive_gives_up_on_a_silent_peer_after_the_idle_bound() -> None:
    """A peer that accepts and never answers costs ``idle`` seconds, not the whole timeout."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname(), timeout=5)
        peer, _ = server.accept()
        try:
            ex = drive([client], [Schedule(b"hello?", half_close=True)], timeout=30, idle=0.3)[0]
        finally:
            client.close()
            peer.close()
    assert ex.timed_out and not ex.eof
    assert 0.25 < ex.elapsed < 5


def test_drive_detects_a_reset() -> None:
    import struct

    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname(), timeout=5)
        peer, _ = server.accept()
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.close()
        try:
            ex = drive([client], [Schedule(b"x" * 100_000, half_close=True)], timeout=5, idle=2)[0]
        finally:
            client.close()
    assert ex.reset and "RST" in ex.outcome()


@pytest.mark.parametrize("kind", KINDS)
def test_payload_spec_code_rebuilds_exactly_the_payload(kind: str) -> None:
    import random

    spec = PayloadSpec(size=3000, kind=kind, seed=7, head=b"\x00\xff")
    payload = spec.build()
    assert len(payload) == 3000 and payload.startswith(b"\x00\xff")
    assert eval(spec.code(), {"random": random}) == payload


def test_payload_kinds_cover_all_byte_values_and_split_characters() -> None:
    assert set(PayloadSpec(512, "all-bytes").build()) == set(range(256))
    text = PayloadSpec(1000, "utf8-split", seed=1).build()
    with pytest.raises(UnicodeDecodeError):
        text.decode()  # starts in the middle of a multi-byte character
    assert b"\r\n" in PayloadSpec(100, "crlf-nul").build() and b"\x00" in PayloadSpec(100, "crlf-nul").build()


def test_boundary_sizes_include_powers_of_two_and_buffer_multiples_plus_minus_one() -> None:
    found = set(boundary_sizes(MiB))
    for size in (0, 1, 1023, 1024, 1025, 4095, 4097, 65535, 65536, 65537, MiB - 1, MiB):
        assert size in found
    assert max(found) == MiB


@settings(max_examples=50)
@given(payload_specs(max_size=MiB))
def test_payload_specs_stay_in_range(spec: PayloadSpec) -> None:
    assert 0 <= spec.size <= MiB and len(spec.head) <= spec.size
    assert len(spec.build()) == spec.size


@settings(max_examples=30)
@given(schedules(max_size=64 * 1024, max_calls=256))
def test_schedules_bound_the_number_of_calls(value: tuple[PayloadSpec, Schedule]) -> None:
    spec, schedule = value
    assert schedule.payload == spec.build()
    assert len(schedule.chunks()) <= 256 + len(schedule.chunk_sizes)
    assert min(schedule.recv_sizes) * 256 >= spec.size or min(schedule.recv_sizes) >= 1


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: sizes(min_size=5, max_size=1), "min_size <= max_size"),
        (lambda: payload_specs(kinds=("nope",)), "subset"),
        (lambda: sizes(min_size="1", max_size=2), "integers"),  # type: ignore[arg-type]
    ],
)
def test_strategy_arguments_are_validated_at_once(call: object, words: str) -> None:
    with pytest.raises((ValueError, TypeError), match=words):
        call()  # type: ignore[operator]
