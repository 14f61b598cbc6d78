"""Repository-level pytest setup only. The Socket Harness plugin itself is loaded through its ``pytest11``
entry point (installing the package), never from here: pluggy refuses a plugin registered twice."""

collect_ignore = ["tests/broken"]
