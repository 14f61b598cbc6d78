"""Examples per second of an echo-fidelity property: Hypothesis ``binary(max_size=4096)``, a new connection
per example, against a reference server (subprocess and in-process). Usage: python3 bench/property_rate.py [N]"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from socket_harness.targets import InProcessTarget, Target, reference_target
from socket_harness.wire import Schedule, echo_mismatch, exchange


def rate(target: Target, n: int) -> float:
    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.binary(max_size=4096))
    def echoes(payload: bytes) -> None:
        ex = exchange(target.address, Schedule(payload, half_close=False), 5, 2)
        assert echo_mismatch(payload, ex) is None

    start = time.perf_counter()
    echoes()
    return n / (time.perf_counter() - start)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    for mode in ("subprocess", "inprocess"):
        with reference_target("selector") if mode == "subprocess" else InProcessTarget("selector") as target:
            rates = [rate(target, n) for _ in range(3)]
        print(f"selector {mode:<10} {sorted(rates)[1]:7.0f} examples/s (median of 3 runs of {n}: "
              f"{', '.join(f'{r:.0f}' for r in rates)})")  # fmt: skip


if __name__ == "__main__":
    main()
