"""greeting checks (being written)."""
