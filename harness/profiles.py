"""Hypothesis profiles: ``dev`` (quick), ``ci`` (derandomized, the default for the suite and the checker)
and ``fuzz`` (long campaigns). Select with ``--profile`` (CLI), ``--hypothesis-profile`` or
``HYPOTHESIS_PROFILE``.

They are registered under names of their own (``socket-harness-ci``...), so a project's own ``ci`` or ``dev``
profile is neither replaced nor used by the harness. The checks run on :func:`current`, the profile the harness
selected, never on Hypothesis' global default: in a user's pytest run the plugin selects a profile without
loading it (:func:`select`), so the user's own tests keep theirs.
"""

from __future__ import annotations

import os

from hypothesis import settings

PROFILES = ("dev", "ci", "fuzz")
PREFIX = "socket-harness-"

# Built on Hypothesis' own "default" profile, not on whatever is loaded now: on a CI machine Hypothesis loads
# its built-in "ci" profile (derandomized, no database), and dev and fuzz must stay random, with a database.
_BASE = settings.get_profile("default")
settings.register_profile(PREFIX + "dev", parent=_BASE, max_examples=10, deadline=None)
settings.register_profile(
    PREFIX + "ci", parent=_BASE, max_examples=20, deadline=None, derandomize=True, print_blob=True
)
settings.register_profile(PREFIX + "fuzz", parent=_BASE, max_examples=1000, deadline=None, print_blob=True)

_selected = {"name": "ci"}


def _short(name: str | None) -> str | None:
    """``ci`` for ``ci`` or ``socket-harness-ci``; None for a name that is not one of ours."""
    if name is None:
        return None
    bare = name.removeprefix(PREFIX)
    return bare if bare in PROFILES else None


def select(name: str | None = None) -> str:
    """Make profile ``name`` (default: ``HYPOTHESIS_PROFILE`` if it names one of ours, else ``ci``) the one the
    checks run on, without touching Hypothesis' global default; return its short name."""
    chosen = _short(name) or _short(os.environ.get("HYPOTHESIS_PROFILE")) or "ci"
    _selected["name"] = chosen
    return chosen


def load(name: str | None = None) -> str:
    """:func:`select` profile ``name`` and load it as Hypothesis' default too (for the command line and this
    project's own suite); return its short name."""
    chosen = select(name)
    settings.load_profile(PREFIX + chosen)
    return chosen


def current() -> settings:
    """The settings of the profile the harness selected."""
    return settings.get_profile(PREFIX + _selected["name"])
