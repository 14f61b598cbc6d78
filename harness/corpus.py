"""Where failures are kept: Hypothesis example databases for campaigns, replayed by every ordinary run.

:func:`configure` takes a directory or a ``redis://HOST:PORT[/DB]`` URL (Hypothesis' own Redis backend,
shared by fuzz workers on several machines). A campaign (a profile that is not derandomized, e.g. ``fuzz``)
reads and writes it: each failure it finds is saved there, shrunk. An ordinary run (the derandomized ``ci``
profile, which Hypothesis runs without a database) first replays everything saved for a check, read-only,
then runs its usual fixed examples, so a failure found once is tried on every run after.

A directory corpus is meant to be committed: entries that were there when the run started are never deleted
(Hypothesis deletes entries that stop failing; a fixed bug must stay tested), entries added during the run
are managed by Hypothesis as usual (intermediate shrinks come and go).
"""

from __future__ import annotations

import unittest
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path

from hypothesis import Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase, ReadOnlyDatabase

from .errors import HarnessError

_current: ExampleDatabase | None = None


class CorpusDatabase(DirectoryBasedExampleDatabase):
    """A directory database that never deletes what it held when this process first looked (see the module
    docstring). Hypothesis fetches a key's entries before it deletes any of them, so the first fetch of each
    key records what was committed."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(str(path))
        self._seen: set[bytes] = set()
        self._kept: set[tuple[bytes, bytes]] = set()

    def fetch(self, key: bytes) -> Iterable[bytes]:
        values = list(super().fetch(key))
        if key not in self._seen:
            self._seen.add(key)
            self._kept.update((key, value) for value in values)
        return iter(values)

    def delete(self, key: bytes, value: bytes) -> None:
        if (key, value) not in self._kept:
            super().delete(key, value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        if (src, value) in self._kept:  # copy, never move, a committed entry
            self.save(dest, value)
        else:
            super().move(src, dest, value)


def configure(spec: str | None) -> None:
    """Use the database ``spec`` (a directory, or ``redis://HOST:PORT[/DB]``) from now on; None: none.
    :class:`HarnessError` when a Redis URL is given but the ``redis`` package is missing or the URL is bad."""
    global _current
    if not spec:
        _current = None
    elif spec.startswith(("redis://", "rediss://", "unix://")):
        try:
            import redis
            from hypothesis.extra.redis import RedisExampleDatabase
        except ImportError:
            raise HarnessError("a redis:// database needs the redis package: pip install redis") from None
        try:
            client = redis.Redis.from_url(spec, socket_timeout=10, socket_connect_timeout=5)
        except ValueError as exc:
            raise HarnessError(f"bad Redis URL {spec!r}: {exc}") from None
        try:
            client.ping()
        except redis.RedisError as exc:
            raise HarnessError(f"cannot reach Redis at {spec}: {exc}") from None
        _current = RedisExampleDatabase(client, expire_after=_YEAR)
    else:
        _current = CorpusDatabase(spec)


#: how long a Redis database keeps an entry nobody touched
_YEAR = timedelta(days=365)


def run_with_corpus(run: Callable[[settings], None], base: settings) -> None:
    """Run a Hypothesis test ``run(settings)`` with the configured database.

    Derandomized (ordinary) runs first replay what the database holds, read-only and with no generation,
    then run as ``base`` says (with no database, as Hypothesis requires). Other runs use the database for
    both replay and saving.
    """
    db = _current
    if db is None:
        run(base)
        return
    if base.derandomize:
        replay = settings(base, derandomize=False, database=ReadOnlyDatabase(db), phases=[Phase.reuse, Phase.shrink])
        try:
            run(replay)
        except unittest.SkipTest:  # nothing saved for this test
            pass
        run(base)
    else:
        run(settings(base, database=db))
