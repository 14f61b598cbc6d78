"""Small C programs of the harness (the load worker, the C baseline server), compiled on first use.

The binaries live in the user's cache, named by the hash of their source, so a changed source is rebuilt and
concurrent builds are harmless (each builds in a temporary directory, then renames atomically).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path


def compiled(source_name: str) -> Path | None:
    """The binary built from ``harness/<source_name>`` with ``cc -O2``; None when there is no working C
    compiler (``$CC``, else ``cc``, ``gcc`` or ``clang``) or the build fails."""
    source = Path(__file__).with_name(source_name)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "socket-harness"
    binary = cache / f"{source.stem}-{digest}"
    if binary.is_file():
        return binary
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        return None
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            built = Path(tmp) / source.stem
            done = subprocess.run(
                [compiler, "-O2", "-o", str(built), str(source)], capture_output=True, text=True, timeout=60
            )
            if done.returncode != 0:
                return None
            built.replace(binary)
    except (OSError, subprocess.SubprocessError):
        return None
    return binary
