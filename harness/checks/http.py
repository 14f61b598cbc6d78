"""http checks (being written)."""
