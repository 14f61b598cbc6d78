"""Hypothesis profiles: ``dev`` (quick), ``ci`` (derandomized, the default for the suite and the checker)
and ``fuzz`` (long campaigns). Select with ``--hypothesis-profile`` or ``HYPOTHESIS_PROFILE``."""

from __future__ import annotations

import os

from hypothesis import settings

PROFILES = ("dev", "ci", "fuzz")

settings.register_profile("dev", max_examples=10, deadline=None)
settings.register_profile("ci", max_examples=20, deadline=None, derandomize=True, print_blob=True)
settings.register_profile("fuzz", max_examples=1000, deadline=None, print_blob=True)


def load(name: str | None = None) -> str:
    """Load profile ``name`` (default: ``HYPOTHESIS_PROFILE``, else ``ci``) and return its name."""
    chosen = name or os.environ.get("HYPOTHESIS_PROFILE") or "ci"
    settings.load_profile(chosen)
    return chosen
