"""Start-up latency of the reference servers: from Popen (subprocess) or from start() (in-process) until the
target is ready, median and spread over N starts. Usage: python3 bench/startup.py [N]"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from socket_harness.targets import InProcessTarget, reference_target


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    for mode in ("subprocess", "inprocess"):
        for name in ("sequential", "threaded", "selector"):
            times = []
            for _ in range(n):
                target = reference_target(name) if mode == "subprocess" else InProcessTarget(name)
                start = time.perf_counter()
                target.start()
                times.append((time.perf_counter() - start) * 1000)
                target.close()
            print(f"{mode:<10} {name:<10} median {statistics.median(times):6.1f} ms  "
                  f"min {min(times):6.1f}  max {max(times):6.1f}  over {n} starts")  # fmt: skip


if __name__ == "__main__":
    main()
