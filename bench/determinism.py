"""The same verdicts every run: each server of the zoo checked N times, optionally beside CPU burners.

For every broken server of the zoos (``BROKEN`` of ``tests/test_zoo.py``, ``test_framed.py``,
``test_greeting.py``, ``test_http_file.py``, ``test_udp_echo.py``) the check that targets it is run alone with
the zoo's quick options; for every correct and natural server (``CORRECT``; ``SERVERS`` of
``tests/test_http_natural.py``; ``NATURALS`` of ``tests/test_natural.py``) the whole default catalogue. Each
run's outcome is the set of checks that did not pass (with their verdicts); a server whose outcomes differ
between runs is reported as flipping, with the counts. Usage (from the repository root):

    python bench/determinism.py [--runs 20] [--burners 2] [--only NAME_GLOB] [--kind KIND ...]

Exit status 1 when any server flipped or a broken server was missed in some run.
"""

from __future__ import annotations

import argparse
import collections
import fnmatch
import importlib
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
        args = [sys.executable, "-m", "socket_harness", "check", *options, "--json", str(report)]
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
        _HELP.append(subprocess.run([sys.executable, "-m", "socket_harness", "check", "--help"], capture_output=True,
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
    elif kind in OTHER_ZOOS:
        protocol, module_name = OTHER_ZOOS[kind]
        module = importlib.import_module(f"tests.{module_name}")
        for name, entry in module.BROKEN.items():
            check_id, rest = entry[0], entry[1:]
            verdict = str(getattr(rest[0], "value", rest[0])) if len(rest) > 1 else "fail"
            options = ["--protocol", protocol, "--only", check_id, *test_zoo.QUICK]
            options += ["--strict"] if verdict == "warn" else []
            options += ["--examples", str(rest[2])] if len(rest) > 2 else []
            command = test_zoo.broken(name) + (["{root}"] if protocol == "http-file" else [])
            if name == "greeting_partial_send":  # its banner, which a truncating server cannot teach the harness
                banner = Path(tempfile.gettempdir()) / "determinism-banner"
                banner.write_bytes(b"welcome " * 131072)
                options += ["--banner-file", str(banner)]
            out[name] = (command, options, check_id)
    elif kind == "correct":
        for name, (command, options) in test_zoo.CORRECT.items():
            out[name] = (command, list(options), None)
    else:
        from tests import test_http_natural

        for name, (_program, command, _warned) in test_http_natural.SERVERS.items():
            out[name] = (list(command), ["--protocol", "http-file"], None)
        try:
            from tests import test_natural
        except ImportError:
            return out
        for name, natural in test_natural.NATURALS.items():
            out[name] = (list(natural.command), list(natural.options), None)
    return out


#: the other protocols' zoos: kind -> (protocol, test module holding its BROKEN table)
OTHER_ZOOS = {
    "framed": ("framed", "test_framed"),
    "greeting": ("greeting", "test_greeting"),
    "http": ("http-file", "test_http_file"),
    "udp": ("udp-echo", "test_udp_echo"),
}
KINDS = ("broken", *OTHER_ZOOS, "correct", "natural")


def _describe(outcome: frozenset[tuple[str, str]]) -> str:
    return ", ".join(f"{c}={v}" for c, v in sorted(outcome)) or "all pass"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--burners", type=int, default=0, help="CPU-burning processes beside the runs")
    parser.add_argument("--only", default="*", help="glob on server names")
    parser.add_argument("--kind", action="append", choices=KINDS, help="which zoo (default: all)")
    args = parser.parse_args()
    stop = multiprocessing.Event()
    burners = [multiprocessing.Process(target=_burn, args=(stop,), daemon=True) for _ in range(args.burners)]
    for b in burners:
        b.start()
    bad = 0
    try:
        for kind in args.kind or KINDS:
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
