"""Report writers: JSON (every field), JUnit XML (for CI systems) and one self-contained HTML page."""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path

from .checks import REGISTRY, Verdict
from .errors import HarnessError
from .runner import TargetReport


def tally(reports: Sequence[TargetReport]) -> dict[str, int]:
    """How many results of each verdict, in a fixed order."""
    counts = {v.value: 0 for v in Verdict}
    for report in reports:
        for result in report.results:
            counts[result.verdict.value] += 1
    return counts


def to_json(reports: Sequence[TargetReport]) -> str:
    """Every check's id, verdict, duration, message, reproducer (its text, and the file it was written to) and
    the server's protocol and stderr tail."""
    data = {
        "summary": tally(reports),
        "servers": [
            {
                "server": r.name,
                "protocol": r.protocol,
                "stderr_tail": r.stderr_tail,
                "checks": [
                    {
                        "id": c.id,
                        "verdict": c.verdict.value,
                        "seconds": round(c.seconds, 4),
                        "message": c.message,
                        "reproducer": c.reproducer,
                        "reproducer_path": c.reproducer_path,
                        "stderr_tail": c.stderr_tail,
                        "guarantee": REGISTRY[c.id].guarantee if c.id in REGISTRY else "",
                    }
                    for c in r.results
                ],
            }
            for r in reports
        ],
    }
    return json.dumps(data, indent=2)


def to_junit(reports: Sequence[TargetReport]) -> str:
    """JUnit XML: one testsuite per server, one testcase per check; warn is a pass with system-out."""
    root = ET.Element("testsuites", name="socket-harness")
    for report in reports:
        suite = ET.SubElement(root, "testsuite", name=report.name, tests=str(len(report.results)))
        counts = {"failures": 0, "errors": 0, "skipped": 0}
        total = 0.0
        for result in report.results:
            total += result.seconds
            case = ET.SubElement(suite, "testcase", classname=report.name, name=result.id, time=f"{result.seconds:.3f}")
            written = f" (written to {result.reproducer_path})" if result.reproducer_path else ""
            body = result.message + (f"\n\nreproducer{written}:\n{result.reproducer}" if result.reproducer else "")
            if result.verdict is Verdict.FAIL:
                counts["failures"] += 1
                ET.SubElement(case, "failure", message=result.message.splitlines()[0]).text = body
            elif result.verdict is Verdict.ERROR:
                counts["errors"] += 1
                ET.SubElement(case, "error", message=result.message.splitlines()[0]).text = body
            elif result.verdict is Verdict.SKIP:
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=result.message)
            elif result.verdict is Verdict.WARN:
                ET.SubElement(case, "system-out").text = f"WARNING: {body}"
        suite.set("time", f"{total:.3f}")
        for key, value in counts.items():
            suite.set(key, str(value))
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


_CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#1d2330;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;font-family:ui-monospace,monospace}
.summary span{display:inline-block;margin-right:.6rem;padding:.2rem .6rem;border-radius:1rem;font-weight:600}
table{border-collapse:collapse;width:100%;table-layout:fixed}th:nth-child(1){width:17rem}
th:nth-child(2){width:4.5rem}th:nth-child(3){width:4.5rem}
td,th{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e3e6ec;vertical-align:top}
th{font-size:.8rem;text-transform:uppercase;color:#677}
.v{font-weight:700;border-radius:.3rem;padding:.1rem .45rem;font-size:.85rem}
.pass{background:#dff5e3;color:#17692a}.fail{background:#fde2e1;color:#a11b14}.warn{background:#fff2cc;color:#7a5600}
.skip{background:#eceff3;color:#566}.error{background:#f3defa;color:#6b1d86}
code,pre{font-family:ui-monospace,monospace;font-size:.82rem}pre{background:#f6f8fa;padding:.7rem;overflow:auto;
border-radius:.3rem}details summary{cursor:pointer;color:#345}.g{color:#677;font-size:.85rem}
.meta{color:#677;font-size:.85rem}tr.row-fail td:first-child,tr.row-error td:first-child{border-left:4px solid
#d93025}tr.row-warn td:first-child{border-left:4px solid #e0a800}tr.row-fail,tr.row-error{background:#fff8f7}
h2 .v{font-family:system-ui,sans-serif;margin-left:.5rem}
"""


def to_html(reports: Sequence[TargetReport], meta: str = "") -> str:
    """One self-contained page: verdict colours, per-check details, reproducers (open on failures), stderr."""
    counts = tally(reports)
    badges = "".join(f'<span class="{v}">{n} {v}</span>' for v, n in counts.items() if n)
    parts = [
        "<!doctype html><html lang=en><meta charset=utf-8><title>Socket Harness report</title>",
        f"<style>{_CSS}</style><h1>Socket Harness report</h1>",
        f"<p class=meta>{html.escape(meta)}</p>" if meta else "",
        f"<p class=summary>{badges}</p>",
    ]
    for report in reports:
        overall = "fail" if report.failed() else ("warn" if report.failed(strict=True) else "pass")
        parts.append(f'<h2>{html.escape(report.name)}<span class="v {overall}">{overall}</span></h2>')
        parts.append("<table><tr><th>check</th><th>verdict</th>")
        parts.append("<th>time</th><th>result</th></tr>")
        for r in report.results:
            guarantee = REGISTRY[r.id].guarantee if r.id in REGISTRY else ""
            detail = f"<div>{html.escape(r.message.splitlines()[0] if r.message else '')}</div>"
            rest = "\n".join(r.message.splitlines()[1:])
            if rest:
                detail += f"<pre>{html.escape(rest)}</pre>"
            opened = " open" if r.verdict in (Verdict.FAIL, Verdict.ERROR) else ""
            if r.reproducer:
                detail += (
                    f"<details{opened}><summary>minimal reproducer (standalone Python"
                    + (f", written to <code>{html.escape(r.reproducer_path)}</code>" if r.reproducer_path else "")
                    + ")</summary>"
                    f"<pre>{html.escape(r.reproducer)}</pre></details>"
                )
            if r.stderr_tail:
                detail += (
                    f"<details><summary>server stderr (last lines)</summary><pre>{html.escape(r.stderr_tail)}</pre>"
                    "</details>"
                )
            parts.append(
                f'<tr class="row-{r.verdict.value}"><td><code>{r.id}</code>'
                f"<div class=g>{html.escape(guarantee)}</div></td>"
                f'<td><span class="v {r.verdict.value}">{r.verdict.value}</span></td>'
                f"<td>{r.seconds:.2f}s</td><td>{detail}</td></tr>"
            )
        parts.append("</table>")
    return "".join(parts) + "</html>\n"


def write_all(
    reports: Sequence[TargetReport],
    *,
    json_path: str | None,
    junit_path: str | None,
    html_path: str | None,
    meta: str = "",
) -> None:
    """Write each report that has a path; :class:`HarnessError` if a file cannot be written."""
    renderers: tuple[tuple[str | None, Callable[[Sequence[TargetReport]], str]], ...] = (
        (json_path, to_json),
        (junit_path, to_junit),
        (html_path, lambda r: to_html(r, meta)),
    )
    for path, render in renderers:
        if path:
            try:
                Path(path).write_text(render(reports))
            except OSError as exc:
                raise HarnessError(f"cannot write report {path}: {exc.strerror}") from None
