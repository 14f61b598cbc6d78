"""udp checks (being written)."""
