"""The same verdicts every run: each server of the zoo checked N times, optionally beside CPU burners.

For every broken server of the echo zoo (``tests/test_zoo.py`` BROKEN) the check that targets it is run
alone with the zoo's options; for every correct and natural server (``CORRECT``, and ``NATURAL`` of
``tests/test_natural.py`` when present) the whole default catalogue. Each run's outcome is the set of checks
that did not pass (with their verdicts); a server whose outcomes differ between runs is reported as flipping,
with the counts. Usage (from the repository root):

    python bench/determinism.py [--runs 20] [--burners 2] [--only NAME_GLOB] [--kind broken|correct|natural]

Exit status 1 when any server flipped or a broken server was missed in some run.
"""

from __future__ import annotations

import argparse
import collections
import fnmatch
import json
import multiprocessing
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import test_zoo  # noqa: E402


def _burn(stop: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    while not stop.is_set():
        sum(i * i for i in range(10000))


def _outcome(command: list[str], options: list[str]) -> tuple[int, frozenset[tuple[str, str]]]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "r.json"
        args = [sys.executable, "-m", "harness", "check", *options, "--json", str(report)]
        args += ["--repro-dir", str(Path(tmp) / "repro")] if "--repro-dir" in _help() else []
        done = subprocess.run([*args, "--", *command], capture_output=True, text=True, timeout=600, cwd=ROOT)
        try:
            checks = json.loads(report.read_text())["servers"][0]["checks"]
        except (OSError, ValueError, KeyError, IndexError):
            return done.returncode, frozenset({("(no report)", done.stderr.strip()[-200:])})
    return done.returncode, frozenset((c["id"], c["verdict"]) for c in checks if c["verdict"] != "pass")


_HELP: list[str] = []


def _help() -> str:
    if not _HELP:
        _HELP.append(subprocess.run([sys.executable, "-m", "harness", "check", "--help"], capture_output=True,
                                    text=True, cwd=ROOT).stdout)  # fmt: skip
    return _HELP[0]


def _servers(kind: str) -> dict[str, tuple[list[str], list[str], str | None]]:
    """name -> (command, options, the check that must fail or warn, or None: must pass everything)."""
    out: dict[str, tuple[list[str], list[str], str | None]] = {}
    if kind == "broken":
        for name, (command, check_id, verdict, _words) in test_zoo.BROKEN.items():
            strict = ["--strict"] if verdict == "warn" else []
            options = ["--only", check_id, *strict, *test_zoo.QUICK, *test_zoo.MORE.get(check_id, [])]
            out[name] = (command, options, check_id)
    elif kind == "correct":
        for name, (command, options) in test_zoo.CORRECT.items():
            out[name] = (command, list(options), None)
    else:
        try:
            from tests import test_natural
        except ImportError:
            return out
        for name, entry in getattr(test_natural, "NATURAL", {}).items():
            out[name] = (list(entry[0]), list(entry[1]), None)
    return out


def _describe(outcome: frozenset[tuple[str, str]]) -> str:
    return ", ".join(f"{c}={v}" for c, v in sorted(outcome)) or "all pass"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--burners", type=int, default=0, help="CPU-burning processes beside the runs")
    parser.add_argument("--only", default="*", help="glob on server names")
    parser.add_argument("--kind", action="append", choices=("broken", "correct", "natural"))
    args = parser.parse_args()
    stop = multiprocessing.Event()
    burners = [multiprocessing.Process(target=_burn, args=(stop,), daemon=True) for _ in range(args.burners)]
    for b in burners:
        b.start()
    bad = 0
    try:
        for kind in args.kind or ["broken", "correct", "natural"]:
            for name, (command, options, target_check) in _servers(kind).items():
                if not fnmatch.fnmatchcase(name, args.only):
                    continue
                seen: collections.Counter[frozenset[tuple[str, str]]] = collections.Counter()
                statuses: collections.Counter[int] = collections.Counter()
                for _ in range(args.runs):
                    status, outcome = _outcome(command, options)
                    seen[outcome] += 1
                    statuses[status] += 1
                missed = 0
                if target_check is not None:
                    missed = sum(n for o, n in seen.items() if target_check not in {cid for cid, _ in o})
                flipped = len(seen) > 1 or len(statuses) > 1
                verdict = "FLIPS" if flipped else ("MISSED" if missed else "same")
                bad += flipped or bool(missed)
                shown = "; ".join(f"{n}x {{{_describe(o)}}}" for o, n in seen.most_common())
                print(f"{kind:<8} {name:<32} {verdict:<6} exit {dict(statuses)}  {shown}", flush=True)
    finally:
        stop.set()
        for b in burners:
            b.join(2)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
