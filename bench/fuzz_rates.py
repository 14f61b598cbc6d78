"""Throughput of the fuzzing checks against servers.selector (subprocess), with random (dev-profile) inputs:
steps and sequences per second of fuzz.stateful, examples per second of fuzz.faults.

Usage: python3 bench/fuzz_rates.py [N]   (N sequences / examples each, default 300)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from socket_harness import profiles
from socket_harness.checks import REGISTRY, CheckOptions, run_check, stateful
from socket_harness.targets import reference_target

counted = {"steps": 0, "sequences": 0}


def counting_machine_for(*args: Any, **kwargs: Any) -> Any:
    """The check's state machine, counting the steps of every sequence at its teardown."""
    machine = original(*args, **kwargs)
    teardown = machine.teardown

    def count_then_teardown(self: Any) -> None:
        counted["steps"] += len(self.steps)
        counted["sequences"] += 1
        teardown(self)

    machine.teardown = count_then_teardown
    return machine


original = stateful.machine_for
stateful.machine_for = counting_machine_for


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    profiles.load("dev")
    with reference_target("selector") as target:
        start = time.monotonic()
        result = run_check(REGISTRY["fuzz.stateful"], target, CheckOptions(examples=n))
        took = time.monotonic() - start
        steps, sequences = counted["steps"], counted["sequences"]
        print(
            f"fuzz.stateful: {result.verdict} {result.message}; {sequences} sequences, {steps} steps in {took:.1f}s: "
            f"{sequences / took:.1f} sequences/s, {steps / took:.0f} steps/s, {steps / max(1, sequences):.1f} "
            "steps per sequence"
        )
        start = time.monotonic()
        result = run_check(REGISTRY["fuzz.faults"], target, CheckOptions(examples=n))
        took = time.monotonic() - start
        print(f"fuzz.faults: {result.verdict} {result.message} in {took:.1f}s: {n / took:.1f} examples/s")


if __name__ == "__main__":
    main()
