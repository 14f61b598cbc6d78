"""Hypothesis profiles: ``dev`` (quick), ``ci`` (derandomized, the default for the suite and the checker)
and ``fuzz`` (long campaigns). Select with ``--hypothesis-profile`` or ``HYPOTHESIS_PROFILE``."""

from __future__ import annotations

import os

from hypothesis import settings

PROFILES = ("dev", "ci", "fuzz")

# Built on Hypothesis' own "default" profile, not on whatever is loaded now: on a CI machine Hypothesis loads
# its built-in "ci" profile (derandomized, no database), and dev and fuzz must stay random, with a database.
_BASE = settings.get_profile("default")
settings.register_profile("dev", parent=_BASE, max_examples=10, deadline=None)
settings.register_profile("ci", parent=_BASE, max_examples=20, deadline=None, derandomize=True, print_blob=True)
settings.register_profile("fuzz", parent=_BASE, max_examples=1000, deadline=None, print_blob=True)


def load(name: str | None = None) -> str:
    """Load profile ``name`` (default: ``HYPOTHESIS_PROFILE``, else ``ci``) and return its name."""
    chosen = name or os.environ.get("HYPOTHESIS_PROFILE") or "ci"
    settings.load_profile(chosen)
    return chosen
