"""framed checks (being written)."""
