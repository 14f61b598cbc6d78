"""``python -m harness check [OPTIONS] [-- COMMAND [ARG...]]``: is this socket server correct?

``--protocol`` picks the oracle (echo by default; framed, greeting, http-file, udp-echo: see
:mod:`harness.protocols`) and with it the check catalogue and the reference servers checked by default.

Exit status: 0 when every required check passes, 1 when the server failed a check (or crashed, never
became ready, hung on shutdown), 2 for misuse of the harness (bad option or value, command not found or not
executable), 3 when the harness itself could not judge a check (an ``error`` verdict, and no check failed),
130 on SIGINT and 143 on SIGTERM (the servers are stopped first), whenever the signal arrives.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType

from . import bench, corpus, process, profiles, reports, reproduce, validate
from .checks import Check, CheckOptions, CheckResult, Verdict, catalogue
from .errors import HarnessError, ServerFault
from .httproot import fixture_root
from .net import LOOPBACK_HOSTS, parse_address
from .protocols import PROTOCOLS, protocol
from .proxy import Faults, lossless_faults
from .runner import TargetReport, check_target, select
from .targets import ConnectTarget, SubprocessTarget, Target, names_placeholder, names_port, reference_target

EPILOG = """\
examples:
  python -m harness check                              check the three reference servers
  python -m harness check -- python3 my_echo.py {port}  check your server; {port} is replaced
  python -m harness check --port 9000 -- ./server      your server listens on 9000 by itself
  python -m harness check --listen-fd -- python3 -m servers.selector --listen-fd
                                                       hand the server a listening socket as fd 3
  python -m harness check --connect 127.0.0.1:9000     a server that is already running
  python -m harness check --faults segments=1,gaps=0.05 -- ./server
                                                       every check through a slicing, delaying network
  python -m harness check --list                       what each check guarantees
  python -m harness check --protocol framed -- python3 my_framed.py {port}
                                                       10-byte length-prefixed frames instead of echo
  python -m harness check --protocol http-file --root www -- python3 my_web.py {port}
                                                       a file server serving www/ ({root} is replaced too)
  python -m harness check --protocol greeting --banner 'Hello!' -- python3 greet.py {port}
  python -m harness check --protocol udp-echo -- python3 my_udp.py {port}

In COMMAND, {port} and {host} are replaced, and PORT and HOST are set in its environment. Without {port},
--port or --listen-fd, the server must print 'listening on HOST:PORT' once it is ready.
exit status: 0 all required checks pass, 1 the server failed a check, 2 the harness was misused (a bad option
or value, a command that is not found or not executable), 3 a harness error (an 'error' verdict, no check
failed), 130 on SIGINT, 143 on SIGTERM.
"""


#: where reproducers go by default (``--repro-dir``)
REPRO_DIR = "harness-repro"


class UsageError(HarnessError):
    """Bad command-line usage (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message.removeprefix("argument "))


#: the number rule of each numeric option of ``check`` and ``bench`` (:mod:`harness.validate`)
SECONDS = validate.option_type(validate.SECONDS)
SECONDS_OR_ZERO = validate.option_type(validate.SECONDS_OR_ZERO)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m harness`` command line."""
    parser = _Parser(prog=f"python -m {__package__}", description="Socket Harness: is this TCP server correct?")
    sub = parser.add_subparsers(dest="command", metavar="check|bench", required=True)
    chk = sub.add_parser(
        "check",
        help="check a server (default: the reference servers of the protocol)",
        description="Check a socket server (echo, framed, greeting, http-file, udp-echo) for protocol and "
        "lifecycle bugs, with shrunk reproducers.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = chk.add_argument_group("where the server is")
    how = where.add_mutually_exclusive_group()
    how.add_argument(
        "--port", type=validate.option_type(validate.PORT), metavar="N", help="the server listens on port N by itself"
    )
    how.add_argument("--connect", metavar="HOST:PORT", help="check a server that is already running")
    how.add_argument("--listen-fd", action="store_true", help="hand the server a listening socket as fd 3")
    where.add_argument("--host", default="127.0.0.1", choices=LOOPBACK_HOSTS, help="loopback address to use")
    what = chk.add_argument_group("the protocol")
    what.add_argument(
        "--protocol",
        default="echo",
        choices=tuple(PROTOCOLS),
        help="what the server speaks (default echo): "
        + "; ".join(f"{p.name}: {p.summary}" for p in PROTOCOLS.values()),
    )
    what.add_argument(
        "--root",
        metavar="DIR",
        help="http-file: the directory the server serves ({root} in COMMAND; default: a fixture tree the "
        "harness makes, with text, HTML, PNG, JPEG, binary and large files and a symlink pointing outside)",
    )
    what.add_argument(
        "--max-frame",
        type=validate.option_type(validate.MAX_FRAME),
        metavar="N",
        help="framed: the largest body the server accepts, 0 to 9999999999 (default 1048576); a larger one must "
        "close the connection",
    )
    banner = what.add_mutually_exclusive_group()
    banner.add_argument("--banner", metavar="TEXT", help="greeting: the banner every client must get (UTF-8)")
    banner.add_argument("--banner-file", metavar="PATH", help="greeting: the banner is the bytes of this file")
    behaviour = chk.add_argument_group("what to expect")
    behaviour.add_argument("--sequential", action="store_true", help="the server serves one client at a time")
    behaviour.add_argument("--strict", action="store_true", help="warnings fail too")
    behaviour.add_argument("--grace", type=SECONDS, default=5.0, help="seconds to exit after SIGTERM (default 5)")
    behaviour.add_argument("--timeout", type=SECONDS, default=10.0, help="bound on one exchange (default 10 s)")
    behaviour.add_argument(
        "--idle", type=SECONDS, default=2.0, help="no byte moving for this long means a hang (default 2 s)"
    )
    behaviour.add_argument("--startup-timeout", type=SECONDS, default=10.0, help="seconds to become ready (default 10)")
    behaviour.add_argument(
        "--examples",
        type=validate.option_type(validate.EXAMPLES),
        help="Hypothesis examples per property, 1 to 1000000 (default: profile)",
    )
    behaviour.add_argument(
        "--shrink-seconds", type=SECONDS, default=10.0, help="time to shrink a failure to its minimum (default 10)"
    )
    behaviour.add_argument(
        "--profile", choices=profiles.PROFILES, help="Hypothesis profile (default: $HYPOTHESIS_PROFILE or ci)"
    )
    behaviour.add_argument(
        "--faults",
        metavar="SPEC",
        help="run the checks (all but lifecycle) through the fault proxy, e.g. 'segments=1/7,gaps=0.05,latency=0.01,"
        "rate=1000000' (keys: segments, gaps, latency, rate, cut=close|reset|vanish@N); the longest gap plus twice "
        "the latency must stay under --idle",
    )
    behaviour.add_argument(
        "--database",
        metavar="DIR|redis://HOST:PORT",
        help="keep the failures found here and replay them first on every run: a directory (commit it) or "
        "Hypothesis' Redis backend, shared by workers on several machines",
    )
    behaviour.add_argument("--only", metavar="ID", action="append", help="run only checks matching ID (glob)")
    behaviour.add_argument("--list", action="store_true", help="list the checks and exit")
    _add_bench(sub)
    out = chk.add_argument_group("reports")
    out.add_argument("--json", metavar="FILE", help="write every result as JSON")
    out.add_argument("--junitxml", metavar="FILE", help="write a JUnit XML report for CI")
    out.add_argument("--html", metavar="FILE", help="write a self-contained HTML report")
    out.add_argument(
        "--repro-dir",
        metavar="DIR",
        default=REPRO_DIR,
        help=f"write each failing check's reproducer to DIR/CHECK_ID.py (default {REPRO_DIR}; one subdirectory "
        "per server when several are checked): python3 DIR/CHECK_ID.py [HOST] PORT exits 1 while the bug is there",
    )
    out.add_argument(
        "-v", "--verbose", action="store_true", help="also print each reproducer inline, after its failure"
    )
    chk.add_argument("server_command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARG...]")
    return parser


BENCH_EPILOG = """\
examples:
  python -m harness bench                                   the reference servers, 50 connections, 1 KiB
  python -m harness bench --baseline asyncio-protocol,uvloop --size 64 -- python3 my_echo.py {port}
  python -m harness bench --connections 1 --json bench.json

Each run starts the server fresh and pins it to the first CPU, the load to the others. With --baseline the
server under test and the baselines are measured in turn, --pairs times, and median ratios are printed.
exit status: 0 every run measured, 1 a server did not start or completed no round trip, 2 the harness was
misused (a bad option or value), 130 on SIGINT, 143 on SIGTERM.
"""


def _add_bench(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cmd = sub.add_parser(
        "bench",
        help="measure an echo server's round trips/s, latency, CPU and memory (default: the reference servers)",
        description="Closed-loop echo load: round trips/s, MB/s, latency percentiles, server CPU and peak RSS.",
        epilog=BENCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmd.add_argument(
        "--connections",
        type=validate.option_type(validate.CONNECTIONS),
        default=50,
        help="concurrent connections, 1 to 10000 (default 50)",
    )
    cmd.add_argument(
        "--size",
        type=validate.option_type(validate.MESSAGE_BYTES),
        default=1024,
        help="message size in bytes, 1 to 16777216 (default 1024)",
    )
    cmd.add_argument("--duration", type=SECONDS, default=3.0, help="measured seconds per run (default 3)")
    cmd.add_argument(
        "--warmup", type=SECONDS_OR_ZERO, default=1.0, help="unmeasured seconds before each run (default 1)"
    )
    cmd.add_argument(
        "--processes",
        type=validate.option_type(validate.PROCESSES),
        help="load worker processes, 1 to 256 (default: one per client CPU)",
    )
    cmd.add_argument(
        "--cycles",
        action="store_true",
        help="each connection repeats connect, echo, close: measures cycles/s and 1-second SYN-retry stalls",
    )
    cmd.add_argument(
        "--pairs",
        type=validate.option_type(validate.PAIRS),
        default=5,
        help="runs of each server, alternating, 1 to 1000 (default 5)",
    )
    cmd.add_argument(
        "--client",
        choices=bench.CLIENTS,
        default="auto",
        help="load workers: the C one (built once with cc; auto: when a compiler is there) or Python",
    )
    cmd.add_argument("--baseline", metavar="NAMES", help=f"compare with: {','.join(bench.BASELINES)}")
    cmd.add_argument("--host", default="127.0.0.1", choices=LOOPBACK_HOSTS, help="loopback address to use")
    cmd.add_argument("--json", metavar="FILE", help="write every measurement and ratio as JSON")
    cmd.add_argument("server_command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARG...]")


def run_bench(args: argparse.Namespace) -> int:
    """``python -m harness bench``: measure, print, write JSON; the exit status."""
    if args.cycles and args.client == "python":
        raise UsageError("--cycles needs the C load client (--client c or auto)")
    baselines = [b.strip() for b in (args.baseline or "").split(",") if b.strip()]
    unknown = [b for b in baselines if b not in bench.BASELINES]
    if unknown:
        raise UsageError(f"unknown baseline {unknown[0]!r}: choose from {', '.join(bench.BASELINES)}")
    command = _server_command(args)
    if command:
        _require_program(command)
        port = None if names_port(command) else 0
        servers: list[tuple[str, Callable[[], Target]]] = [
            (command[0], lambda: SubprocessTarget(command, args.host, port=port))
        ]
    else:
        servers = bench.default_servers()
    server_cpus, client_cpus = bench.cpu_split()
    processes = args.processes or min(len(client_cpus), int(validate.PROCESSES.high))
    print(f"{args.connections} connections, {args.size} B messages, {args.warmup:g}s warm-up + {args.duration:g}s, "
          f"{processes} load process(es) ({args.client} client); server on CPU {sorted(server_cpus)}",
          flush=True)  # fmt: skip
    try:
        shape = bench.Shape(
            args.connections, args.size, args.duration, args.warmup, processes, args.client, args.cycles
        )
        measurements, comparisons = bench.run_bench(
            servers,
            baselines,
            shape,
            pairs=args.pairs if baselines else 1,
            report=lambda m: print(f"  {m.line()}", flush=True),
        )
    except ServerFault as exc:  # a server (or baseline) that does not start
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    for comparison in comparisons:
        print(comparison.line(servers[0][0]))
    if args.json:
        bench.write_json(args.json, measurements, comparisons, servers[0][0])
    failed = [m for m in measurements if m.errors or not m.round_trips_per_s]
    if failed:
        print(f"{failed[0].server}: {failed[0].errors[0] if failed[0].errors else 'no round trip completed'}")
    return 1 if failed else 0


def _server_command(args: argparse.Namespace) -> list[str]:
    """The COMMAND after ``--`` (empty when none was given)."""
    command = list(args.server_command)
    return command[1:] if command and command[0] == "--" else command


def _require_program(command: list[str]) -> None:
    """:class:`~harness.validate.BadValue` (exit 2) unless ``command[0]`` can be executed
    (:func:`harness.validate.program`)."""
    validate.program(command[0])


def make_targets(args: argparse.Namespace, options: CheckOptions) -> list[Target]:
    """The targets the arguments describe; :class:`UsageError` for contradictory ones."""
    command = _server_command(args)
    transport = protocol(args.protocol).transport
    if args.connect:
        if command:
            raise UsageError("--connect checks a running server: do not give a COMMAND too")
        address = parse_address(args.connect)
        return [ConnectTarget(address, sequential=args.sequential, transport=transport)]
    common = {"grace": args.grace, "startup_timeout": args.startup_timeout}
    if not command:
        if args.port is not None or args.listen_fd:
            raise UsageError("--port and --listen-fd describe a COMMAND: give one after --")
        server_options = _reference_options(args, options)
        return [
            reference_target(name, host=args.host, server_options=server_options, **common)
            for name in protocol(args.protocol).servers
        ]
    _require_program(command)
    port: int | None = args.port if args.port is not None else (None if names_port(command) or args.listen_fd else 0)
    placeholders = {"root": options.root} if options.root is not None else None
    return [
        SubprocessTarget(
            command,
            args.host,
            port=port,
            listen_fd=args.listen_fd,
            sequential=args.sequential,
            transport=transport,
            placeholders=placeholders,
            **common,
        )
    ]


def _reference_options(args: argparse.Namespace, options: CheckOptions) -> dict[str, object]:
    """The command-line options our reference server of ``args.protocol`` needs to match ``options``."""
    if args.protocol == "http-file":
        return {"root": options.root}
    if args.protocol == "framed" and args.max_frame is not None:
        return {"max_frame": args.max_frame}
    if args.protocol == "greeting" and args.banner_file is not None:
        return {"banner_file": args.banner_file}
    if args.protocol == "greeting" and args.banner is not None:
        return {"banner": args.banner}
    return {}


ROOT_NEEDED = (
    "--protocol http-file: say which directory your server serves: --root DIR (e.g. --root . for the "
    "current directory), or put {root} in COMMAND to have it serve a fixture tree the harness makes"
)


def protocol_options(args: argparse.Namespace) -> dict[str, object]:
    """The :class:`CheckOptions` fields of the protocol options; :class:`UsageError` for a bad or misplaced one."""
    belongs = {"root": "http-file", "max_frame": "framed", "banner": "greeting", "banner_file": "greeting"}
    for name, owner in belongs.items():
        option = "--" + name.replace("_", "-")
        if getattr(args, name) is not None and owner != args.protocol:
            raise UsageError(f"{option} is an option of --protocol {owner}, not of {args.protocol}")
    fields: dict[str, object] = {"protocol": args.protocol}
    if args.root is not None:
        if not os.path.isdir(args.root):
            raise UsageError(f"--root {args.root}: no such directory")
        fields["root"] = os.path.abspath(args.root)
    if args.max_frame is not None:
        fields["max_frame"] = args.max_frame
    if args.banner is not None:
        fields["banner"] = args.banner.encode()
    if args.banner_file is not None:
        try:
            fields["banner"] = Path(args.banner_file).read_bytes()
        except OSError as exc:
            raise UsageError(f"--banner-file {args.banner_file}: {exc.strerror}") from None
    return fields


@contextlib.contextmanager
def served_root(options: CheckOptions) -> Iterator[CheckOptions]:
    """``options``, with (for http-file without ``--root``) a fixture tree made in a temporary directory that
    is removed afterwards."""
    if options.protocol != "http-file" or options.root is not None:
        yield options
        return
    with fixture_root() as root:
        yield dataclasses.replace(options, root=root)


def print_catalogue(protocol: str = "echo") -> None:
    """One line per check of ``protocol``: id, verdict class (what a broken rule gives), the rule a pass
    guarantees, and the file of the repository that defines it (``harness/checks/x.py``, however the package is
    installed: its installed name is ``socket_harness``, its directory in the repository ``harness/``)."""
    print(f"{'id':<24} {'class':<5} the rule (a pass guarantees)  [defined in]")
    top = Path(__file__).resolve().parent
    for chk in catalogue(protocol):
        source = Path(inspect.getfile(sys.modules[chk.func.__module__])).resolve()
        where = f"harness/{source.relative_to(top).as_posix()}" if source.is_relative_to(top) else source.name
        print(f"{chk.id:<24} {chk.severity.value:<5} {chk.guarantee}  [{where}]")


def _print_result(result: CheckResult, verbose: bool = False) -> None:
    """The result's line; for a failure or warning, where its reproducer was written on the next line (and
    with ``verbose`` the reproducer itself), then the rest of its message."""
    print(f"  {result.line()}", flush=True)
    if result.verdict in (Verdict.FAIL, Verdict.WARN, Verdict.ERROR):
        if result.reproducer_path:
            print(f"      reproducer: python3 {result.reproducer_path} [HOST] PORT  (exit 1 while the bug is there)")
        for line in result.message.splitlines()[1:]:
            print(f"      {line}")
        if result.reproducer and (verbose or not result.reproducer_path):
            print("      minimal reproducer:")
            for line in result.reproducer.splitlines():
                print(f"        {line}")


def repro_dirs(base: str, names: Sequence[str]) -> list[Path]:
    """The directory each server's reproducers go to: ``base`` itself for one server, else one subdirectory of
    it per server, named after it (sanitized, made unique)."""
    if len(names) == 1:
        return [Path(base)]
    dirs: list[Path] = []
    for name in names:
        sub, n = reproduce.safe_name(name), 1
        while Path(base) / sub in dirs:
            n += 1
            sub = f"{reproduce.safe_name(name)}-{n}"
        dirs.append(Path(base) / sub)
    return dirs


def keep_reproducer(result: CheckResult, directory: Path) -> None:
    """:func:`harness.reproduce.keep`; :class:`HarnessError` if the file cannot be written."""
    try:
        reproduce.keep(result, directory)
    except OSError as exc:
        raise HarnessError(f"--repro-dir {directory}: cannot write {result.id}.py: {exc.strerror}") from None


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the checks, print and write the reports; return the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "bench":
        return run_bench(args)
    if args.list:
        print_catalogue(args.protocol)
        return 0
    try:
        faults = lossless_faults("--faults", args.faults) if args.faults is not None else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if faults is not None:
        validate.faults_fit_idle("--faults", faults.gaps, faults.latency, args.idle, "--idle")
    if args.database is not None:
        validate.database("--database", args.database)
    fields = protocol_options(args)
    command = _server_command(args)
    if args.protocol == "http-file" and command and args.root is None and not names_placeholder(command, "root"):
        raise UsageError(ROOT_NEEDED)
    if faults is not None and protocol(args.protocol).transport != "tcp":
        raise UsageError(f"--faults: the fault proxy carries TCP streams; {args.protocol} is not one")
    if not args.repro_dir or (os.path.exists(args.repro_dir) and not os.path.isdir(args.repro_dir)):
        raise UsageError(f"--repro-dir {args.repro_dir!r}: not a directory")
    checks = select(args.only, args.protocol)
    if not checks:
        raise UsageError(f"no check matches --only {' '.join(args.only)}; see --list")
    profile = profiles.load(args.profile)
    try:
        corpus.configure(args.database)
    except HarnessError as exc:
        raise UsageError(f"--database: {exc}") from None
    options = CheckOptions(
        timeout=args.timeout,
        idle=args.idle,
        grace=args.grace,
        examples=args.examples,
        shrink_seconds=args.shrink_seconds,
        **fields,  # type: ignore[arg-type]
    )
    with served_root(options) as options:
        return _check_all(args, options, checks, faults, profile)


def _check_all(
    args: argparse.Namespace, options: CheckOptions, checks: list[Check], faults: Faults | None, profile: str
) -> int:
    """Run ``checks`` on every target the arguments describe, print and write the reports; the exit status."""
    targets = make_targets(args, options)
    results: list[TargetReport] = []
    for target, repro_dir in zip(targets, repro_dirs(args.repro_dir, [t.name for t in targets]), strict=True):
        network = f" through faults: {faults.describe()}" if faults is not None else ""
        kept = f", database {args.database}" if args.database else ""
        print(f"{target.name}{network}  (Hypothesis profile {profile}{kept})", flush=True)

        def on_result(result: CheckResult, repro_dir: Path = repro_dir) -> None:
            keep_reproducer(result, repro_dir)
            _print_result(result, args.verbose)

        report = check_target(target, options, checks, on_result=on_result, faults=faults)
        results.append(report)
        if report.stderr_tail and report.failed(args.strict):
            print("  server stderr (last lines):")
            for line in report.stderr_tail.splitlines():
                print(f"    {line}")
    counts = reports.tally(results)
    print(", ".join(f"{n} {v}" for v, n in counts.items() if n) or "no checks ran")
    meta = f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')} · Hypothesis profile {profile} · python -m harness check"
    reports.write_all(results, json_path=args.json, junit_path=args.junitxml, html_path=args.html, meta=meta)
    return exit_status(results, args.strict)


def exit_status(results: Sequence[TargetReport], strict: bool = False) -> int:
    """1 when a server failed a check (or warned, when ``strict``), else 3 when the harness could not judge one
    (an ``error`` verdict), else 0. A failure wins over an error: that server is broken whatever the rest says."""
    bad = {Verdict.FAIL} | ({Verdict.WARN} if strict else set())
    verdicts = {r.verdict for report in results for r in report.results}
    if verdicts & bad:
        return 1
    return 3 if Verdict.ERROR in verdicts else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: :func:`run` with misuse mapped to exit 2 (one line on stderr) and SIGINT/SIGTERM to a clean
    teardown, then 130/143.

    Only the first signal interrupts: one arriving while the servers are being stopped, or after the run is
    over, is not raised, so the teardown completes and the status is 128 + the first signal. Called with
    ``argv`` (in-process), the previous handlers are restored on return; as the program (``argv`` None) ours
    stay, so that a signal during the interpreter's exit cannot turn into a traceback."""
    caught: list[int] = []
    done = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if caught or done:  # already stopping, or finished: let the teardown (or the exit) complete
            return
        caught.append(signum)
        if process.spawning():  # raising inside Popen would lose the server being started
            process.interrupt_after_spawn()
            return
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            status = run(argv)
        except HarnessError as exc:
            hint = " (see --help)" if isinstance(exc, UsageError | validate.BadValue) else ""
            print(f"error: {exc}{hint}", file=sys.stderr)
            status = 2
        except BrokenPipeError:  # the reader of our output went away (``| head``): stop quietly, servers stopped
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            status = 1
    except KeyboardInterrupt:  # raised once at most (see on_signal), wherever it landed
        signum = caught[0] if caught else signal.SIGINT
        with contextlib.suppress(OSError):
            print(f"interrupted ({signal.Signals(signum).name}): servers stopped", file=sys.stderr)
        status = 128 + signum
    finally:
        done = True
    if caught:  # a signal that arrived as the run ended, after its last chance to raise
        status = 128 + caught[0]
    if argv is not None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status
