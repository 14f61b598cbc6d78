"""Repository-level pytest setup only. The Socket Harness plugin itself is loaded through its ``pytest11``
entry point (installing the package), never from here: pluggy refuses a plugin registered twice."""

from harness import profiles

collect_ignore = ["tests/broken", "tests/hostile"]

# this project's own property tests run on the harness' profiles (HYPOTHESIS_PROFILE, default ci); the plugin
# itself never loads a profile into a user's run
profiles.load()
